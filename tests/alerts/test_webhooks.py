"""The alert webhooks end to end: real aiohttp server on loopback, real SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from server.alerts.models import Alert
from server.alerts.routes import MAX_BODY_BYTES, setup_alert_routes
from server.alerts.service import AlertService
from server.cases.fsm import Event, State
from server.cases.plans import deterministic_plan
from server.cases.service import CaseService
from server.cases.store import Case, StaticApprovers
from server.config import Settings
from server.storage.db import Database
from tests.alerts.bodies import (
    TENCENT_EVENT,
    TENCENT_METRIC,
    TENCENT_RECOVERED_REAL,
    alertmanager_v4,
    am_alert,
    tencent_event_real,
    tke_pod_alarm,
)
from tests.alerts.helpers import serve
from tests.pg import DbBackend


def basic(user: str, password: str) -> dict[str, str]:
    """The header Tencent sends for http://user:password@host/... callback URLs."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


AUTH_HEADERS = basic("tencent", "s3cret-pw")
TOKEN = "p4th-t0ken-0123456789"


_BACKEND = DbBackend("sqlite")  # set per test by the fixture below


@pytest.fixture(autouse=True)
def _on_both_backends(db_backend: DbBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs on SQLite and on PostgreSQL: ``stack`` opens its database through ``db_backend``."""
    monkeypatch.setitem(globals(), "_BACKEND", db_backend)


@dataclass
class Stack:
    url: str
    db: Database
    alerts: AlertService
    cases: CaseService
    new_cases: list[tuple[Case, Alert]] = field(default_factory=list)

    def tencent(self, token: str = TOKEN) -> str:
        return f"{self.url}/webhooks/tencent/{token}" if token else f"{self.url}/webhooks/tencent"


@asynccontextmanager
async def stack(tmp_path: Path, **settings_kw) -> AsyncIterator[Stack]:
    kw = {"alert_basic_user": "tencent", "alert_basic_password": "s3cret-pw", "alert_path_token": TOKEN}
    kw.update(settings_kw)
    settings = Settings(_env_file=None, data_dir=tmp_path, **kw)
    db = _BACKEND.open(tmp_path / "ops.sqlite3")  # the same path reopens the same database
    cases = CaseService(db, approvers=StaticApprovers({"owner:alice": "high"}))
    seen: list[tuple[Case, Alert]] = []
    service = AlertService(db, cases, on_new_case=lambda c, a: seen.append((c, a)))
    app = web.Application()
    setup_alert_routes(app, settings, service)
    async with serve(app) as url:
        yield Stack(url, db, service, cases, seen)
    db.dispose()


async def post(session: aiohttp.ClientSession, url: str, body, **kw) -> tuple[int, dict]:
    async with session.post(url, json=body, **kw) as resp:
        return resp.status, await resp.json()


async def test_every_tencent_variant_is_accepted_and_stored(tmp_path: Path) -> None:
    bodies = [
        TENCENT_METRIC,
        TENCENT_RECOVERED_REAL,
        TENCENT_EVENT,
        tencent_event_real(),
        tke_pod_alarm("tke-str", numbers_as_strings=True),
        tke_pod_alarm("tke-num", pod="api-other", status=1, numbers_as_strings=False),
    ]
    async with stack(tmp_path) as s, aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        for body in bodies:
            status, reply = await post(http, s.tencent(), body)
            assert status == 200
            assert reply == {"sessionId": body["sessionId"], "retCode": 0}
        await s.alerts.drain()
        stored = s.alerts.list_alerts(limit=100)
    firing = {a.resource for a in stored if a.status == "firing"}
    assert firing == {
        "ins-o9p3rg3m",
        "ins-pftdvqa2",
        "prod/deployment/api/api-7d9f-abcde",
        "prod/deployment/api/api-other",
    }
    # the recovered callback had no firing partner: nothing to resolve, no row, no case
    assert all(a.resource != "ins-4ap7abk6" for a in stored)
    # doc event + real event share policy/event/instance: one alert seen twice
    event = next(a for a in stored if a.resource == "ins-pftdvqa2")
    assert event.count == 2
    # groups: cvm instance, ping instance, the api workload -> three cases, hook called for each
    assert len(s.new_cases) == 3
    assert {c.status for c, _ in s.new_cases} == {State.NEW}


async def test_auth_rules(tmp_path: Path) -> None:
    body = tke_pod_alarm("auth-1")
    async with stack(tmp_path) as s, aiohttp.ClientSession() as http:
        assert (await post(http, s.tencent(), body))[0] == 401  # no credentials
        status, _ = await post(http, s.tencent(), body, headers=basic("tencent", "wrong"))
        assert status == 401
        status, _ = await post(http, s.tencent(), body, headers=basic("nobody", "s3cret-pw"))
        assert status == 401
        assert (await post(http, s.tencent("wrong-token"), body, headers=AUTH_HEADERS))[0] == 401
        assert (await post(http, s.tencent(""), body, headers=AUTH_HEADERS))[0] == 401  # path token missing
        async with http.post(s.tencent(), json=body, headers={"Authorization": "Basic !!!notbase64"}) as r:
            assert r.status == 401
        assert (await post(http, s.tencent(), body, headers=AUTH_HEADERS))[0] == 200
        await s.alerts.drain()
        assert len(s.alerts.list_alerts()) == 1  # only the authorised request was stored


async def test_path_token_alone_and_basic_alone(tmp_path: Path) -> None:
    body = tke_pod_alarm("tok-1")
    async with (
        stack(tmp_path / "a", alert_basic_user="", alert_basic_password="") as s,
        aiohttp.ClientSession() as http,
    ):
        assert (await post(http, s.tencent(), body))[0] == 200
        assert (await post(http, s.tencent("nope"), body))[0] == 401
    async with stack(tmp_path / "b", alert_path_token="") as s, aiohttp.ClientSession() as http:
        assert (await post(http, s.tencent(""), body, headers=AUTH_HEADERS))[0] == 200
        assert (await post(http, s.tencent(""), body))[0] == 401


async def test_no_auth_configured_refuses_even_loopback(tmp_path: Path) -> None:
    kw = {"alert_basic_user": "", "alert_basic_password": "", "alert_path_token": ""}
    async with stack(tmp_path, **kw) as s, aiohttp.ClientSession() as http:
        assert (await post(http, s.tencent(""), tke_pod_alarm("lo-1")))[0] == 401
        assert (await post(http, s.tencent("guess"), tke_pod_alarm("lo-2")))[0] == 401
    assert s.alerts.list_alerts(limit=10) == []


def test_the_service_generates_a_webhook_token_when_none_is_configured(tmp_path: Path) -> None:
    from server.auth.tokens import with_webhook_token

    bare = Settings(
        _env_file=None, data_dir=tmp_path, alert_basic_user="", alert_basic_password="", alert_path_token=""
    )
    first = with_webhook_token(bare).alert_path_token
    assert len(first) >= 32 and with_webhook_token(bare).alert_path_token == first  # stored, stable
    assert (tmp_path / "webhook.token").stat().st_mode & 0o777 == 0o600
    configured = Settings(_env_file=None, data_dir=tmp_path, alert_path_token="mine")
    assert with_webhook_token(configured).alert_path_token == "mine"


async def test_malformed_and_oversized_bodies(tmp_path: Path) -> None:
    bad_status = copy.deepcopy(TENCENT_METRIC) | {"alarmStatus": "2"}
    async with stack(tmp_path) as s, aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        async with http.post(
            s.tencent(), data=b"{not json", headers={"Content-Type": "application/json"}
        ) as r:
            assert r.status == 400 and "not valid JSON" in (await r.json())["error"]
        async with http.post(s.tencent(), data=b"") as r:
            assert r.status == 400 and "empty body" in (await r.json())["error"]
        status, reply = await post(http, s.tencent(), [1, 2])
        assert status == 400 and "JSON object" in reply["error"]
        status, reply = await post(http, s.tencent(), bad_status)
        assert status == 400 and "alarmStatus" in reply["error"]
        status, reply = await post(
            http, f"{s.url}/webhooks/alertmanager/{TOKEN}", {"version": "4", "alerts": []}
        )
        assert status == 400 and "non-empty" in reply["error"]
        huge = tke_pod_alarm("big") | {"padding": "x" * (MAX_BODY_BYTES + 10)}
        status, reply = await post(http, s.tencent(), huge)
        assert status == 413
        # the server is still up and nothing bad was stored
        assert (await post(http, s.tencent(), tke_pod_alarm("ok-after")))[0] == 200
        await s.alerts.drain()
        assert [a.pod for a in s.alerts.list_alerts()] == ["api-7d9f-abcde"]


async def test_replayed_session_id_creates_one_alert_and_one_case(tmp_path: Path) -> None:
    body = tke_pod_alarm("retry-me")
    async with stack(tmp_path) as s, aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        for _ in range(3):  # Tencent retries reuse the sessionId
            status, reply = await post(http, s.tencent(), body)
            assert (status, reply) == (200, {"sessionId": "retry-me", "retCode": 0})
        await s.alerts.drain()
        assert len(s.alerts.list_alerts()) == 1
        assert len(s.cases.list_cases()) == 1
        assert s.alerts.list_alerts()[0].count == 1
    # a fresh process (empty memory) on the same database still recognises the sessionId
    async with stack(tmp_path) as s2, aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        assert (await post(http, s2.tencent(), body))[0] == 200
        await s2.alerts.drain()
        assert len(s2.alerts.list_alerts()) == 1 and len(s2.cases.list_cases()) == 1
        assert s2.alerts.totals.duplicates == 1


async def test_storm_aggregates_into_one_group_with_children(tmp_path: Path) -> None:
    async with stack(tmp_path) as s, aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        replies = await asyncio.gather(
            *(post(http, s.tencent(), tke_pod_alarm(f"storm-{i}", pod=f"api-{i:02d}")) for i in range(25))
        )
        assert all(status == 200 for status, _ in replies)
        await s.alerts.drain()
        groups = s.alerts.list_groups()
        assert len(groups) == 1
        group = groups[0]
        assert group.child_count == 25 and group.alert_count == 25
        assert group.aggregated  # 25 > 20 within 60 s
        children = s.alerts.group_children(group.id)
        assert len(children) == 25 and {c.group_id for c in children} == {group.id}
        assert len(s.cases.list_cases()) == 1 and len(s.new_cases) == 1
        case = s.cases.get_case(group.case_id)
        assert case.resource == "prod/deployment/api" and group.title.startswith("[聚合] prod/deployment/api")
        timeline = s.cases.timeline(group.case_id)
        assert any("告警风暴" in t.detail.get("text", "") for t in timeline)


async def test_below_threshold_is_grouped_but_not_a_storm(tmp_path: Path) -> None:
    async with stack(tmp_path) as s, aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        for i in range(5):
            await post(http, s.tencent(), tke_pod_alarm(f"calm-{i}", pod=f"api-{i}"))
        await s.alerts.drain()
        (group,) = s.alerts.list_groups()
        assert group.child_count == 5 and not group.aggregated


async def test_recovery_resolves_alert_group_and_closes_verifying_case(tmp_path: Path) -> None:
    async with stack(tmp_path) as s, aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        await post(http, s.tencent(), tke_pod_alarm("f-1", pod="api-1"))
        await post(http, s.tencent(), tke_pod_alarm("f-2", pod="api-2"))
        await s.alerts.drain()
        (group,) = s.alerts.list_groups()
        case_id = group.case_id
        # walk the case to VERIFYING (dry-run executor)
        plan = deterministic_plan(namespace="prod", workload="api")
        s.cases.propose_plan(case_id, plan, actor="tracer")
        s.cases.approve(case_id, approver="owner:alice", challenge_passed=True)
        for _ in range(50):
            await s.cases.dispatcher.dispatch_once()
            if s.cases.get_case(case_id).status is State.VERIFYING:
                break
        assert s.cases.get_case(case_id).status is State.VERIFYING

        await post(
            http, s.tencent(), tke_pod_alarm("r-1", pod="api-1", status="0", recover="2026-11-20 10:05:00")
        )
        await s.alerts.drain()
        assert s.alerts.get_group(group.id).status == "open"  # api-2 still firing
        await post(
            http, s.tencent(), tke_pod_alarm("r-2", pod="api-2", status=0, recover="2026-11-20 10:06:00")
        )
        await s.alerts.drain()
        assert {a.status for a in s.alerts.list_alerts()} == {"resolved"}
        assert s.alerts.get_group(group.id).status == "resolved"
        assert s.alerts.is_case_recovered(case_id) is True
        case = s.cases.get_case(case_id)
        assert case.status is State.CLOSED
        assert s.cases.timeline(case_id)[-1].event == Event.VERIFIED.value
        # the same resource firing again later is a new incident: a new group and a new case
        await post(http, s.tencent(), tke_pod_alarm("f-3", pod="api-1"))
        await s.alerts.drain()
        assert len(s.alerts.list_groups(status="open")) == 1 and len(s.cases.list_cases()) == 2


async def test_alertmanager_webhook(tmp_path: Path) -> None:
    async with stack(tmp_path) as s, aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        url = f"{s.url}/webhooks/alertmanager/{TOKEN}"
        status, reply = await post(http, url, alertmanager_v4([am_alert("api-1"), am_alert("api-2")]))
        assert status == 200 and reply["alerts"] == 2
        await post(http, url, alertmanager_v4([am_alert("api-1"), am_alert("api-2")]))  # repeat notification
        await s.alerts.drain()
        alerts = s.alerts.list_alerts()
        assert len(alerts) == 2 and all(a.count == 2 for a in alerts)
        assert s.alerts.list_alerts(account="1250000000", status="firing")
        assert len(s.new_cases) == 1
        case, alert = s.new_cases[0]
        assert (
            alert.source == "alertmanager" and case.resource == "prod/deployment/api"
        )  # the workload, not a pod
        await post(
            http,
            url,
            alertmanager_v4([am_alert("api-1", "resolved"), am_alert("api-2", "resolved")], "resolved"),
        )
        await s.alerts.drain()
        assert s.alerts.list_groups()[0].status == "resolved"
        assert any(t.detail.get("text") == "告警已恢复" for t in s.cases.timeline(case.id))


async def test_reply_waits_for_the_commit(tmp_path: Path) -> None:
    """A 200 means stored: while another writer holds the database, the answer waits, and once it comes the
    alert is already readable (no drain needed)."""
    async with stack(tmp_path) as s, aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        blocker = _BACKEND.write_blocker(tmp_path / "ops.sqlite3")  # the intake worker cannot commit
        request = asyncio.create_task(post(http, s.tencent(), tke_pod_alarm("while-locked")))
        await asyncio.sleep(0.5)
        assert not request.done()  # no answer before the commit
        blocker.rollback()
        blocker.close()
        status, reply = await request
        assert status == 200 and reply["retCode"] == 0
        assert [a.pod for a in s.alerts.list_alerts()] == ["api-7d9f-abcde"]
