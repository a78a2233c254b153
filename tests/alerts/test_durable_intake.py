"""Durable intake (issue 10.2): 200 only after the commit, 503 when the database cannot store (disk full), retries
succeed and are not dropped as duplicates, a body split over TCP writes is read whole."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from sqlalchemy import event

from tests.alerts.bodies import alertmanager_v4, am_alert, tke_pod_alarm
from tests.alerts.test_webhooks import AUTH_HEADERS, TOKEN, post, stack


class DiskFull:
    """A real SQLite "database or disk is full": cap the database at its current size (PRAGMA max_page_count on
    every pooled connection), as a full data disk would. ``free()`` lifts the cap."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.full = False
        event.listen(engine, "checkout", self._on_checkout)

    def _on_checkout(self, dbapi_conn, _record, _proxy) -> None:
        cur = dbapi_conn.cursor()
        if self.full:
            pages = cur.execute("PRAGMA page_count").fetchone()[0]
            cur.execute(f"PRAGMA max_page_count = {int(pages)}")
        else:
            cur.execute("PRAGMA max_page_count = 1073741823")
        cur.close()

    def fill(self) -> None:
        self.full = True

    def free(self) -> None:
        self.full = False


async def test_full_disk_answers_503_and_the_retries_are_stored_not_dropped(tmp_path: Path) -> None:
    async with stack(tmp_path) as s, aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        disk = DiskFull(s.db.engine)
        # warm the database so the intake state and tables exist, then fill the "disk"
        assert (await post(http, s.tencent(), tke_pod_alarm("warm", pod="warm-1", workload="warm")))[0] == 200
        disk.fill()
        bodies = [
            tke_pod_alarm(f"full-{i}", pod=f"svc{i % 7}-{i:04d}", workload=f"svc{i % 7}") for i in range(60)
        ]
        replies = await asyncio.gather(*(post(http, s.tencent(), b) for b in bodies))
        statuses = [status for status, _ in replies]
        assert set(statuses) <= {200, 503}
        assert statuses.count(503) >= len(bodies) // 2  # the disk is full: (nearly) nothing fits any more
        assert all("retry" in r["error"] and "full" in r["error"] for st, r in replies if st == 503)
        am = alertmanager_v4([am_alert("crash-0")])
        status, _ = await post(http, f"{s.url}/webhooks/alertmanager/{TOKEN}", am)
        assert status == 503
        # every 200 is stored, every 503 is not: nothing acknowledged is lost, nothing half-written
        stored_pods = {a.pod for a in s.alerts.list_alerts(limit=500)}
        acked = {
            b["alarmObjInfo"]["dimensions"]["pod_name"]
            for b, st in zip(bodies, statuses, strict=True)
            if st == 200
        }
        assert stored_pods == {"warm-1"} | acked

        disk.free()  # space freed: the senders' retries (same sessionIds) must be stored, not dropped
        replies = await asyncio.gather(*(post(http, s.tencent(), b) for b in bodies))
        assert [status for status, _ in replies] == [200] * len(bodies)
        assert (await post(http, f"{s.url}/webhooks/alertmanager/{TOKEN}", am))[0] == 200
        stored = s.alerts.list_alerts(limit=500)
        assert len(stored) == 1 + len(bodies) + 1
        assert s.alerts.totals.duplicates == len(acked)  # only those already stored count as duplicates
        # a real retry of a stored one is now a duplicate, answered 200 and stored once
        assert (await post(http, s.tencent(), bodies[0]))[0] == 200
        assert len(s.alerts.list_alerts(limit=500)) == len(stored)
        assert s.alerts.totals.duplicates == len(acked) + 1


async def _raw_post(
    port: int, path: str, body: bytes, headers: dict[str, str], split_at: int
) -> tuple[int, dict]:
    """POST over a raw socket, the body in two TCP writes with a pause between them."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode() + body[:split_at])
    await writer.drain()
    await asyncio.sleep(0.3)  # the server has the first part only
    writer.write(body[split_at:])
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    payload = rest.split(b"\r\n\r\n", 1)[1]
    return int(status_line.split()[1]), json.loads(payload)


async def test_a_body_in_two_tcp_writes_is_read_whole(tmp_path: Path) -> None:
    body = json.dumps(tke_pod_alarm("split-1") | {"padding": "告警" * 3000}, ensure_ascii=False).encode()
    async with stack(tmp_path) as s:
        port = int(s.url.rsplit(":", 1)[1])
        status, reply = await _raw_post(
            port, f"/webhooks/tencent/{TOKEN}", body, AUTH_HEADERS, split_at=len(body) // 3
        )
        assert (status, reply) == (200, {"sessionId": "split-1", "retCode": 0})
        assert len(s.alerts.list_alerts()) == 1
        # chunked transfer encoding, several chunks: read whole as well
        am = json.dumps(alertmanager_v4([am_alert("crash-9")])).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        auth = AUTH_HEADERS["Authorization"]
        writer.write(
            (
                f"POST /webhooks/alertmanager/{TOKEN} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        for i in range(0, len(am), 50):
            part = am[i : i + 50]
            writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        assert len(s.alerts.list_alerts()) == 2


async def test_oversized_chunked_body_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    from server.alerts.routes import MAX_BODY_BYTES

    async with stack(tmp_path) as s, aiohttp.ClientSession(headers=AUTH_HEADERS) as http:

        async def chunks():
            for _ in range(MAX_BODY_BYTES // 4096 + 2):
                yield b"x" * 4096

        async with http.post(s.tencent(), data=chunks()) as r:
            assert r.status == 413
        assert (await post(http, s.tencent(), tke_pod_alarm("after-big")))[0] == 200
