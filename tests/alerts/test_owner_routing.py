"""Issue 15.1 / 10.3: alert → cloud account → owner → that owner's ears, exactly once.

Two owners with different Tencent Cloud accounts share one robot. An alarm raised by B's account is traced on B's
evidence (B is called 张三: the owner name works in every path) and spoken only to B; a backlog is one digest, spoken
after the owner's own question; an announcement is delivered only when it was played out; committed cases that were
never announced resume at start-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agents.evidence import build_store
from agents.owner_ids import owner_path_id
from agents.parsers import parse_stream
from agents.records import LogKind
from agents.sample_day import generate_day
from agents.sources.local import LocalSource
from server.alerts.alertmanager import parse_alertmanager
from server.alerts.service import AlertService
from server.alerts.tencent import parse_tencent
from server.cases.service import CaseService
from server.config import Settings
from server.delivery import AlertDelivery, Announcement, build_digest
from server.owners import AccountDirectory, AccountError, account_key, alert_accounts, parse_account
from server.storage.db import Database
from server.voice.registry import DeviceRegistry
from tests.alerts.bodies import alertmanager_v4, am_alert, tke_pod_alarm

TZ = ZoneInfo("Asia/Shanghai")
DAY = "2026-03-12"
ALICE, ZHANG = "alice", "张三"
ALICE_UIN, ZHANG_UIN = "100000000001", "200000000002"


def alarm(session_id: str, uin: str, appid: str = "1250000000", **kw: Any) -> dict[str, Any]:
    body = tke_pod_alarm(session_id, **kw)
    body["alarmObjInfo"]["uin"] = uin
    body["alarmObjInfo"]["appId"] = appid
    return body


# ---------------------------------------------------------------- account ids and resolution


def test_account_ids_are_typed_and_validated() -> None:
    assert account_key("uin", " 100001 ") == "uin:100001"
    assert parse_account("receiver:team-b") == "receiver:team-b"
    assert parse_account("APP_ID:1250000001") == "appid:1250000001"
    for bad in ("uin:abc", "nokind", "colour:blue", "receiver:has space"):
        with pytest.raises(AccountError):
            parse_account(bad)


def test_resolution_by_uin_appid_receiver_and_configuration(tmp_path: Path) -> None:
    db = Database.sqlite(tmp_path / "ops.sqlite3")
    db.create_all()
    accounts = AccountDirectory(db, "receiver:team-c=carol, appid:1250000009=dave", default_owner="default")
    accounts.bind(ZHANG, [f"uin:{ZHANG_UIN}"])
    accounts.bind(ALICE, [f"uin:{ALICE_UIN}"])

    tencent = parse_tencent(alarm("r-1", ZHANG_UIN), tz="Asia/Shanghai")
    assert alert_accounts(tencent) == ["appid:1250000000", f"uin:{ZHANG_UIN}"]
    assert accounts.resolve(tencent) == ZHANG
    assert accounts.resolve(parse_tencent(alarm("r-2", ALICE_UIN), tz="Asia/Shanghai")) == ALICE
    assert (
        accounts.resolve(parse_tencent(alarm("r-3", "999", appid="1250000009"), tz="Asia/Shanghai")) == "dave"
    )
    # nobody claims this account: the default owner, never someone else's
    assert accounts.resolve(parse_tencent(alarm("r-4", "999"), tz="Asia/Shanghai")) == "default"

    am = alertmanager_v4([am_alert("crash-1")])
    am["receiver"] = "team-c"
    (alert,) = parse_alertmanager(am)
    assert accounts.resolve(alert) == "carol"
    # a stored binding (made when keys were bound) wins over configuration
    accounts.bind(ZHANG, ["receiver:team-c"])
    assert accounts.resolve(alert) == ZHANG
    assert {b.account for b in accounts.bindings(ZHANG)} == {f"uin:{ZHANG_UIN}", "receiver:team-c"}
    db.dispose()


# ---------------------------------------------------------------- fakes for the device side


@dataclass
class FakeMemory:
    expect: str = ""

    def expecting(self) -> bool:
        return self.expect in ("rollback", "enroll", "challenge", "confirm")


@dataclass
class FakeSession:
    """A device session as delivery sees it: who was identified on it, and what it was asked to say."""

    device_id: str
    owner: str | None = None
    plays_out: bool = True
    heard: list[list[str]] = field(default_factory=list)
    said: list[str] = field(default_factory=list)  # everything in order, turn answers included
    turn_task: asyncio.Task[Any] | None = None
    memory: FakeMemory = field(default_factory=FakeMemory)

    def __post_init__(self) -> None:
        self.info = SimpleNamespace(device_id=self.device_id)
        self.channel = SimpleNamespace(info=self.info)
        self.state: dict[str, Any] = {}

    async def announce(
        self, sentences: list[str], case_id: int | None = None, ask_rollback: bool = False
    ) -> bool:
        self.heard.append(list(sentences))
        self.said.extend(sentences)
        return self.plays_out


@dataclass
class Rig:
    db: Database
    cases: CaseService
    accounts: AccountDirectory
    delivery: AlertDelivery
    alerts: AlertService
    sessions: dict[str, FakeSession]


async def rig(tmp_path: Path, enrolled: list[str] | None = None) -> Rig:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", default_owner="default")
    db = Database.sqlite(tmp_path / "ops.sqlite3")
    db.create_all()
    cases = CaseService(db)
    accounts = AccountDirectory(db, default_owner="default")
    accounts.bind(ALICE, [f"uin:{ALICE_UIN}"])
    accounts.bind(ZHANG, [f"uin:{ZHANG_UIN}"])
    names = [ALICE, ZHANG] if enrolled is None else enrolled
    delivery = AlertDelivery(settings, DeviceRegistry(), cases, db, enrolled_owners=lambda: names)
    sessions: dict[str, FakeSession] = {}
    delivery.attach(SimpleNamespace(sessions=sessions, turn_hooks=[]))  # type: ignore[arg-type]
    service = AlertService(db, cases, owner_resolver=accounts.resolve, on_new_case=delivery.on_new_case)
    await service.start()
    return Rig(db, cases, accounts, delivery, service, sessions)


async def settle(r: Rig) -> None:
    await r.alerts.drain()
    for _ in range(3):
        await asyncio.sleep(0.05)
        if r.delivery._tasks:
            await asyncio.gather(*list(r.delivery._tasks), return_exceptions=True)


async def close(r: Rig) -> None:
    await r.alerts.stop()
    await r.delivery.close()
    r.db.dispose()


async def accept(r: Rig, body: dict[str, Any]) -> None:
    alert = parse_tencent(body, tz="Asia/Shanghai")
    assert await r.alerts.accept([alert], source="tencent", session_id=alert.session_id) == "accepted"


def zhang_evidence(data_dir: Path) -> dict[str, Any]:
    """B's (张三's) day: generated logs under B's own directory, mined into B's evidence store."""
    logs = data_dir / "logs"
    gen = generate_day(logs, DAY, lines=12_000, seed=7, owner=ZHANG)
    src = LocalSource(logs, ZHANG)
    records = []
    for kind in LogKind:
        for ref in src.list_objects(kind, DAY):
            records.extend(parse_stream(kind, src.open_lines(ref), tz=TZ, source=ref.key))
    build_store(data_dir / "pipeline", ZHANG, DAY, records)
    assert (data_dir / "pipeline" / "evidence" / owner_path_id(ZHANG)).is_dir()
    return next(i for i in gen.ground_truth["incidents"] if i["type"] == "image_pull_failure")


async def test_b_accounts_alarm_is_traced_on_b_evidence_and_spoken_only_to_b(tmp_path: Path) -> None:
    incident = zhang_evidence(tmp_path / "data")
    r = await rig(tmp_path)
    try:
        a_dev = r.sessions["dev-a"] = FakeSession("dev-a", owner=ALICE)  # alice's voice identified here
        b_dev = r.sessions["dev-b"] = FakeSession("dev-b", owner=ZHANG)  # 张三's voice identified here
        first = datetime.fromtimestamp(incident["start_ts"] + 300, TZ).strftime("%Y-%m-%d %H:%M:%S")
        await accept(
            r,
            alarm(
                "b-1",
                ZHANG_UIN,
                pod=f"{incident['workload']}-5c7d9b8f6-abcde",
                workload=incident["workload"],
                namespace=incident["namespace"],
                first=first,
            ),
        )
        await settle(r)
        (case,) = r.cases.list_cases()
        assert case.owner == ZHANG and case.account == "1250000000"
        assert r.delivery.traces[case.id].found  # B's evidence explained it
        assert a_dev.heard == []  # alice never hears B's alarm
        assert len(b_dev.heard) == 1 and incident["workload"] in "".join(b_dev.heard[0])
        assert r.delivery.pending() == []

        # alice's account: her case, her ears only; no evidence of hers exists, and it is said as such
        await accept(r, alarm("a-1", ALICE_UIN, pod="web-1", workload="web", namespace="shop"))
        await settle(r)
        alice_case = next(c for c in r.cases.list_cases() if c.owner == ALICE)
        assert not r.delivery.traces.get(alice_case.id) or not r.delivery.traces[alice_case.id].found
        assert len(a_dev.heard) == 1 and len(b_dev.heard) == 1
    finally:
        await close(r)


async def test_queued_alert_waits_for_its_owner_and_comes_after_their_own_answer(tmp_path: Path) -> None:
    r = await rig(tmp_path)
    try:
        await accept(r, alarm("q-1", ZHANG_UIN, pod="api-1"))
        await settle(r)
        assert [a.owner for a in r.delivery.pending()] == [ZHANG]  # nobody of B's is listening: queued

        # alice talks to a robot: the hook runs in her turn, she hears nothing of B's
        dev = r.sessions["dev-1"] = FakeSession("dev-1", owner=ALICE)
        await run_turn(r, dev, ALICE, "昨天的日志怎么样")
        await settle(r)
        assert dev.said == ["answer: 昨天的日志怎么样"]
        assert len(r.delivery.pending()) == 1

        # 张三 speaks on the same robot: his question is answered first, then his backlog
        dev.owner = ZHANG
        await run_turn(r, dev, ZHANG, "现在几点")
        await settle(r)
        assert dev.said[1] == "answer: 现在几点"
        assert dev.said[2] == "有1条新告警。"
        assert r.delivery.pending() == []
    finally:
        await close(r)


async def run_turn(r: Rig, session: FakeSession, owner: str, text: str) -> None:
    """What the dialogue does: hooks first (inside the turn task), then the reply is spoken."""

    async def turn() -> None:
        ctx = SimpleNamespace(guest=False, owner=owner, device=session.channel, text=text)
        for hook in r.delivery.services.turn_hooks:  # type: ignore[union-attr]
            assert await hook(text, ctx) is None  # delivery never answers the user's question itself
        await asyncio.sleep(0.2)  # thinking
        session.said.append(f"answer: {text}")

    session.turn_task = asyncio.create_task(turn())
    await session.turn_task


async def test_not_delivered_unless_played_out_and_bound_to_device_and_voice(tmp_path: Path) -> None:
    r = await rig(tmp_path)
    try:
        dev = r.sessions["dev-1"] = FakeSession("dev-1", owner=ZHANG, plays_out=False)  # e.g. disconnected
        await accept(r, alarm("p-1", ZHANG_UIN, pod="api-1"))
        await settle(r)
        assert len(dev.heard) == 1
        (item,) = r.delivery.pending(ZHANG)  # not played out: still queued
        dev.plays_out = True
        await run_turn(r, dev, ZHANG, "有什么告警")
        await settle(r)
        assert r.delivery.pending() == []
        record = r.delivery.delivery_record(item.id)
        assert record is not None and record["device"] == "dev-1" and record["voice"] == f"voice:{ZHANG}"
    finally:
        await close(r)


async def test_single_user_mode_speaks_the_default_owners_alerts_on_any_device(tmp_path: Path) -> None:
    r = await rig(tmp_path, enrolled=[])  # nobody enrolled a voiceprint
    try:
        dev = r.sessions["dev-1"] = FakeSession("dev-1")
        await accept(r, alarm("s-1", "555", pod="api-1"))  # unbound account: the default owner's
        await accept(r, alarm("s-2", ZHANG_UIN, pod="api-2", workload="other"))  # 张三's: not for this device
        await settle(r)
        assert len(dev.heard) == 1
        (queued,) = r.delivery.pending()
        assert queued.owner == ZHANG
        record = r.delivery.delivery_record(3 - queued.id)  # the other of announcements 1 and 2
        assert record is not None and (record["device"], record["voice"]) == ("dev-1", "single-user")
    finally:
        await close(r)


def test_a_backlog_is_one_short_digest_most_severe_first() -> None:
    items = [
        Announcement(i, ZHANG, i, False, [f"第{i}条告警的原因。", "建议检查。"], "warning", f"svc{i} 重启")
        for i in range(1, 2493)
    ]
    items[100].severity = "critical"
    items[100].title = "支付网关 5xx 激增"
    items[100].ask_rollback = True
    items[2000].severity = "critical"
    items[2000].title = "订单服务 OOM"
    digest = build_digest(items)
    spoken = "".join(digest.sentences)
    assert digest.sentences[0].startswith(
        "有2492条新告警，最严重的3条是：严重，订单服务 OOM；严重，支付网关 5xx 激增；"
    )
    assert len(digest.sentences) <= 8 and len(spoken) < 400  # never thousands of sentences
    assert digest.ids == [i.id for i in items]
    assert digest.ask_case_id is None  # the most severe (newest critical) one has no rollback question
    assert build_digest([items[100]], backlog=False).ask_case_id == items[100].case_id


async def test_committed_cases_never_announced_resume_at_start(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")
    db = Database.sqlite(tmp_path / "ops.sqlite3")
    db.create_all()
    cases = CaseService(db)
    crashed = AlertService(db, cases)  # no delivery hook: as if the process died right after the commit
    crashed.ingest([([parse_tencent(alarm(f"c-{i}", "555", pod=f"api-{i}", workload=f"w{i}"), tz="Asia/Shanghai")],
                     "tencent", f"c-{i}") for i in range(3)])  # fmt: skip
    assert len(cases.list_cases()) == 3
    delivery = AlertDelivery(settings, DeviceRegistry(), cases, db)
    assert delivery.pending() == []
    before_them = datetime(2020, 1, 1, tzinfo=TZ)  # cases newer than this process's start have their own hook
    assert await delivery.resume(crashed.store.get_alert, before=before_them) == 0
    assert await delivery.resume(crashed.store.get_alert) == 3
    assert sorted(a.case_id for a in delivery.pending()) == sorted(c.id for c in cases.list_cases())
    assert await delivery.resume(crashed.store.get_alert) == 0  # announced once, never twice
    db.dispose()


async def test_accounts_api_binds_with_the_admin_token_only(tmp_path: Path) -> None:
    import aiohttp
    from aiohttp import web

    from server.owners import setup_account_routes
    from server.voiceprint.store import VoiceprintStore
    from tests.alerts.helpers import serve

    db = Database.sqlite(tmp_path / "ops.sqlite3")
    db.create_all()
    store = VoiceprintStore(db, None)
    owner = store.create_owner(ZHANG)
    accounts = AccountDirectory(db)
    app = web.Application()
    setup_account_routes(app, accounts=accounts, store=store, admin_token="adm-token-123")
    body = {"uin": [ZHANG_UIN], "app_id": "1250000002", "accounts": ["receiver:team-z"]}
    async with serve(app) as base, aiohttp.ClientSession() as http:
        url = f"{base}/api/owners/{owner.id}/accounts"
        async with http.put(url, json=body) as r:
            assert r.status == 401
        auth = {"Authorization": "Bearer adm-token-123"}
        async with http.put(url, json={"uin": ["12ab"]}, headers=auth) as r:
            assert r.status == 400 and "must be a number" in (await r.json())["error"]
        async with http.put(url, json=body, headers=auth) as r:
            assert r.status == 200
        async with http.get(url, headers=auth) as r:
            listed = {a["account"] for a in (await r.json())["accounts"]}
        async with http.put(f"{base}/api/owners/999/accounts", json=body, headers=auth) as r:
            assert r.status == 404
    assert listed == {f"uin:{ZHANG_UIN}", "appid:1250000002", "receiver:team-z"}
    assert accounts.resolve(parse_tencent(alarm("api-1", ZHANG_UIN), tz="Asia/Shanghai")) == ZHANG
    db.dispose()


async def test_a_bound_device_speaks_its_owners_alerts_unless_someone_else_is_talking(tmp_path: Path) -> None:
    r = await rig(tmp_path)
    try:
        r.delivery.device_owners = {"desk-z": ZHANG}
        dev = r.sessions["desk-z"] = FakeSession("desk-z")  # nobody identified yet: the bound owner's desk
        await accept(r, alarm("d-1", ZHANG_UIN, pod="api-1"))
        await settle(r)
        assert len(dev.heard) == 1
        assert r.delivery.delivery_record(1)["voice"] == "bound"  # type: ignore[index]
        dev.owner = ALICE  # alice is talking to 张三's desk robot now
        await accept(r, alarm("d-2", ZHANG_UIN, pod="api-2", workload="other"))
        await settle(r)
        assert len(dev.heard) == 1 and [a.owner for a in r.delivery.pending()] == [ZHANG]
    finally:
        await close(r)
