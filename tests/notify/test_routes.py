"""Channels, silences, acknowledgement and snooze over HTTP, behind the real authentication guard."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.cases.service import CaseService
from server.notify.escalation import DEFAULT_POLICY
from server.notify.routes import setup_notify_routes
from server.notify.service import NotifyService
from server.storage.db import Database
from server.vault.crypto import VaultCipher, master_key
from tests.http_auth import ADMIN, OPERATOR, guarded_app

WEBHOOK_KEY = "0c2f5a1e-very-secret-key"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[TestClient, NotifyService, CaseService]]:
    db = Database.sqlite(tmp_path / "n.sqlite3")
    db.create_all()
    cases = CaseService(db)
    notify = NotifyService(db, VaultCipher(master_key("", tmp_path)), cases, policy=DEFAULT_POLICY)
    app = guarded_app()
    setup_notify_routes(app, notify)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client, notify, cases
    await client.close()
    await notify.stop()


async def test_acknowledge_records_the_authenticated_actor_not_a_name_in_the_body(rig):
    client, notify, cases = rig
    case = cases.create_case(owner="alice", title="order-api 5xx", severity="critical")
    resp = await client.post(f"/api/cases/{case.id}/acknowledge", json={"actor": "mallory"}, headers=OPERATOR)
    assert resp.status == 200 and (await resp.json())["first"] is True
    again = await client.post(f"/api/cases/{case.id}/acknowledge", headers=ADMIN)
    assert (await again.json())["first"] is False
    last = cases.store.timeline(case.id)[-1]
    assert last.actor.startswith("operator:") and "mallory" not in json.dumps(last.detail)
    assert notify.attention.get(case.id).acked_by == last.actor


async def test_acknowledge_and_snooze_need_authentication_and_a_real_case(rig):
    client, _notify, cases = rig
    case = cases.create_case(owner="alice", title="x")
    assert (await client.post(f"/api/cases/{case.id}/acknowledge")).status == 401
    assert (await client.post("/api/cases/999/acknowledge", headers=ADMIN)).status == 404
    assert (await client.post("/api/cases/abc/acknowledge", headers=ADMIN)).status == 404
    bad = await client.post(f"/api/cases/{case.id}/snooze", json={"minutes": -3}, headers=ADMIN)
    assert bad.status == 400
    ok = await client.post(f"/api/cases/{case.id}/snooze", json={"minutes": 10}, headers=ADMIN)
    assert ok.status == 200 and "snoozed_until" in await ok.json()


async def test_channel_secrets_are_write_only(rig):
    client, notify, _cases = rig
    url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WEBHOOK_KEY}"
    put = await client.put("/api/channels/ops-group", json={"kind": "wecom", "url": url}, headers=ADMIN)
    assert put.status == 201
    listed = await (await client.get("/api/channels", headers=OPERATOR)).text()
    assert WEBHOOK_KEY not in listed and "qyapi.weixin.qq.com" in listed
    assert WEBHOOK_KEY not in await put.text()
    # only an admin configures; the stored spec is encrypted at rest
    assert (
        await client.put("/api/channels/x", json={"kind": "wecom", "url": url}, headers=OPERATOR)
    ).status == 403
    raw = Path(notify.channels.db.url.removeprefix("sqlite:///")).read_bytes()
    assert WEBHOOK_KEY.encode() not in raw
    incomplete = await client.put(
        "/api/channels/f", json={"kind": "feishu", "url": "https://x.example"}, headers=ADMIN
    )
    assert incomplete.status == 400 and "secret" in (await incomplete.json())["error"]


async def test_silences_over_http_with_a_clear_error_for_an_invalid_matcher(rig):
    client, _notify, _cases = rig
    body = {
        "owner": "alice",
        "matchers": [{"name": "workload", "op": "=", "value": "order-api"}],
        "starts_at": "2026-11-27T22:00:00+08:00",
        "ends_at": "2026-11-28T00:00:00+08:00",
        "comment": "maintenance",
    }
    created = await client.post("/api/silences", json=body, headers=ADMIN)
    assert created.status == 201
    sid = (await created.json())["id"]
    bad = {**body, "matchers": [{"name": "workload", "op": "=~", "value": "(order"}]}
    refused = await client.post("/api/silences", json=bad, headers=ADMIN)
    assert refused.status == 400 and "regex" in (await refused.json())["error"]
    wrong_op = {**body, "matchers": [{"name": "workload", "op": "~~", "value": "x"}]}
    assert (await client.post("/api/silences", json=wrong_op, headers=ADMIN)).status == 400
    assert (await client.delete(f"/api/silences/{sid}", headers=ADMIN)).status == 200
    assert (await client.delete(f"/api/silences/{sid}", headers=ADMIN)).status == 404
