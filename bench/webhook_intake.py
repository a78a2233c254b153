"""Alert webhook intake throughput: POST Tencent TKE alarms to the real aiohttp server over loopback.

    python -m bench.webhook_intake [--count 5000] [--concurrency 32] [--max-seconds 60]

The client runs in a separate process so it does not share the server's event loop. Aggregation is on (default
window 60 s / threshold 20): alarms are spread over workloads so groups, storms and cases all happen, and ~5 % are
replays of an earlier sessionId (must not create anything). Reports HTTP acceptance rate and end-to-end rate
(first request → everything stored). Target: ≥ 500 alerts/s end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path
from typing import Any

TOKEN = "bench-path-token"
USER, PASSWORD = "bench", "bench-password"


def _body(i: int, workloads: int) -> dict[str, Any]:
    from tests.alerts.bodies import tke_pod_alarm

    w = i % workloads
    return tke_pod_alarm(f"bench-{i}", pod=f"svc{w}-{i:06d}", workload=f"svc{w}", namespace="prod")


def _client(url: str, count: int, concurrency: int, workloads: int, max_seconds: float, out: Any) -> None:
    import aiohttp

    headers = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}

    async def main() -> None:
        bodies = [json.dumps(_body(i, workloads)).encode() for i in range(count)]
        replays = [bodies[i] for i in range(0, count, 20)]  # every 20th notification is retried once
        payloads = bodies + replays
        statuses: dict[int, int] = {}
        it = iter(payloads)
        deadline = time.perf_counter() + max_seconds
        latencies: list[float] = []

        async def worker(session: aiohttp.ClientSession) -> None:
            for data in it:
                if time.perf_counter() > deadline:
                    return
                t = time.perf_counter()
                async with session.post(
                    url, data=data, headers={**headers, "Content-Type": "application/json"}
                ) as r:
                    await r.read()
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                latencies.append(time.perf_counter() - t)

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(session) for _ in range(concurrency)))
            elapsed = time.perf_counter() - t0
        latencies.sort()
        out.put(
            {
                "sent": sum(statuses.values()),
                "statuses": statuses,
                "elapsed_s": elapsed,
                "replays": len(replays),
                "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
                "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
                "max_ms": 1000 * latencies[-1] if latencies else None,
            }
        )

    asyncio.run(main())


async def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from aiohttp import web

    from server.alerts.routes import setup_alert_routes
    from server.alerts.service import AlertService
    from server.cases.service import CaseService
    from server.config import Settings
    from server.storage.db import Database

    settings = Settings(
        _env_file=None,
        data_dir=tmp,
        alert_basic_user=USER,
        alert_basic_password=PASSWORD,
        alert_path_token=TOKEN,
    )
    db = Database.sqlite(tmp / "bench.sqlite3")
    db.create_all()
    cases = CaseService(db)
    new_cases = 0

    def on_new_case(_case: Any, _alert: Any) -> None:
        nonlocal new_cases
        new_cases += 1

    service = AlertService(db, cases, on_new_case=on_new_case, window_s=60, storm_threshold=20)
    app = web.Application()
    setup_alert_routes(app, settings, service)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/webhooks/tencent/{TOKEN}"

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(
        target=_client, args=(url, args.count, args.concurrency, args.workloads, args.max_seconds, out)
    )
    t0 = time.perf_counter()
    proc.start()
    client = await asyncio.to_thread(out.get, True, args.max_seconds + 60)
    await asyncio.to_thread(proc.join, 10)
    await service.drain()
    end_to_end = time.perf_counter() - t0
    stored = len(service.list_alerts(limit=args.count + 10))
    groups = service.list_groups(limit=10000)
    totals = service.totals
    await runner.cleanup()
    db.dispose()
    accepted = client["statuses"].get(200, 0)
    return {
        "count": args.count,
        "concurrency": args.concurrency,
        "http_requests": client["sent"],
        "http_statuses": client["statuses"],
        "http_rate_per_s": round(client["sent"] / client["elapsed_s"], 1),
        "end_to_end_s": round(end_to_end, 2),
        "end_to_end_rate_per_s": round(accepted / end_to_end, 1),
        "latency_ms": {
            k: round(client[k], 2) for k in ("p50_ms", "p99_ms", "max_ms") if client[k] is not None
        },
        "alerts_stored": stored,
        "groups": len(groups),
        "aggregated_groups": sum(g.aggregated for g in groups),
        "cases_created": new_cases,
        "replays_sent": client["replays"],
        "duplicates_skipped": totals.duplicates,
        "note": "includes spawn time of the client process",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=5000, help="distinct alarms to send (plus 5%% replays)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--workloads", type=int, default=50, help="alarms are spread over this many workloads"
    )
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xops-bench-") as tmp:
        result = asyncio.run(_run(args, Path(tmp)))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    ok = result["end_to_end_rate_per_s"] >= 500
    print(
        f"end-to-end intake: {result['end_to_end_rate_per_s']} alerts/s ({'meets' if ok else 'BELOW'} the 500/s target)"
    )


if __name__ == "__main__":
    main()
