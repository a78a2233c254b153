"""Issue 15 end to end below the voice layer: alerts from two owners' cloud accounts, a ladder of channel rungs
against stand-ins that verify Feishu and DingTalk signatures and the TC3-signed SMS API, "收到" stopping it, a
restart in the middle resuming it without duplicates, and silences letting only non-matching alerts through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from server.alerts.service import AlertService
from server.alerts.tencent import parse_tencent
from server.cases.fsm import State
from server.cases.plans import validate_plan
from server.cases.service import CaseService
from server.cases.store import Case
from server.dialogue.alert_skills import AlertingSkills
from server.dialogue.context import TurnContext
from server.intent.models import Intent
from server.notify.chain import RetryPolicy
from server.notify.escalation import EscalationPolicy, Rung, RungAction
from server.notify.models import ChannelKind, ChannelSpec
from server.notify.service import NotifyService
from server.notify.wiring import silence_gate
from server.owners import AccountDirectory
from server.silences.models import Matcher, SilenceIn
from server.storage.db import Database
from server.vault.crypto import VaultCipher, master_key
from tests.alerts.bodies import tke_pod_alarm
from tests.fakes.chatbots import ChatBots
from tests.fakes.tc3_server import FakeTc3Server

ALICE_UIN, ZHANG_UIN = "100000000001", "200000000002"
POLICY = EscalationPolicy(
    rungs={
        "warning": [
            Rung(after_min=5, action=RungAction.CHANNELS, channels=["feishu-b"]),
            Rung(after_min=15, action=RungAction.CHANNELS, channels=["dingtalk-b"]),
            Rung(after_min=30, action=RungAction.CHANNELS, channels=["sms-b"]),
        ]
    }
)


def alarm(session_id: str, uin: str, **kw: object) -> dict[str, object]:
    body = tke_pod_alarm(session_id, **kw)
    body["alarmObjInfo"]["uin"] = uin  # type: ignore[index]
    return body


@dataclass
class World:
    db: Database
    tmp: Path
    bots: ChatBots
    sms: FakeTc3Server
    spoken: list[tuple[str, int]]
    cases: CaseService
    notify: NotifyService
    alerts: AlertService


async def _world(
    db: Database, tmp: Path, bots: ChatBots, sms: FakeTc3Server, spoken: list[tuple[str, int]]
) -> World:
    cases = CaseService(db)
    notify = NotifyService(
        db, VaultCipher(master_key("", tmp)), cases, policy=POLICY, retry=RetryPolicy(attempts=1, base_s=0.01)
    )

    async def announce(case: Case, _alert: object) -> None:
        spoken.append((case.owner, case.id))

    accounts = AccountDirectory(db, f"uin:{ALICE_UIN}=alice,uin:{ZHANG_UIN}=张三", default_owner="alice")
    alerts = AlertService(
        db, cases, owner_resolver=accounts.resolve, on_new_case=silence_gate(notify, announce)
    )
    await alerts.start()
    return World(db, tmp, bots, sms, spoken, cases, notify, alerts)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    bots = ChatBots()
    server = TestServer(bots.app(), host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    db = Database.sqlite(tmp_path / "world.sqlite3")
    db.create_all()
    with FakeTc3Server(service="sms") as sms:
        sms.add_user("AKIDsmsB", "sms-key-b")
        w = await _world(db, tmp_path, bots, sms, [])
        for spec in (
            ChannelSpec(name="feishu-b", kind=ChannelKind.FEISHU, owner="张三",
                        url=f"{base}/open-apis/bot/v2/hook/t", secret=bots.feishu_secret),
            ChannelSpec(name="dingtalk-b", kind=ChannelKind.DINGTALK, owner="张三",
                        url=f"{base}/robot/send?access_token={bots.dingtalk_token}", secret=bots.dingtalk_secret),
            ChannelSpec(name="sms-b", kind=ChannelKind.SMS, owner="张三", url=f"http://{sms.endpoint}",
                        secret_id="AKIDsmsB", secret="sms-key-b", sdk_app_id="1400000000", sign_name="小智运维",
                        template_id="100001", phone_numbers=["+8613900000000"]),
            ChannelSpec(name="feishu-a", kind=ChannelKind.FEISHU, owner="alice",
                        url=f"{base}/open-apis/bot/v2/hook/a", secret=bots.feishu_secret),
        ):  # fmt: skip
            w.notify.channels.put(spec)
        yield w
        await w.alerts.stop()
        await w.notify.stop()
    await server.close()


async def _raise(w: World, session_id: str, uin: str, **kw: object) -> Case:
    alert = parse_tencent(alarm(session_id, uin, **kw), tz="Asia/Shanghai")
    assert await w.alerts.accept([alert], source="tencent", session_id=session_id) == "accepted"
    await w.alerts.drain()
    await asyncio.sleep(0.05)
    return w.cases.list_cases()[0]  # newest first


def _messages(w: World) -> list[str]:
    out = [f"feishu:{t[:12]}" for t in w.bots.texts("feishu")] + [
        f"dingtalk:{t[:12]}" for t in w.bots.texts("dingtalk")
    ]
    return out + [f"sms:{p['TemplateParamSet'][0]}" for p in w.sms.sms_sent]


async def _climb(w: World, case: Case, minutes: list[int]) -> None:
    created = case.created_at if case.created_at.tzinfo else case.created_at.replace(tzinfo=UTC)
    for m in minutes:
        w.notify.ladder.sweep(created + timedelta(minutes=m))
        await w.cases.dispatcher.dispatch_once()


async def test_b_alarm_goes_to_b_and_climbs_b_channels_one_message_per_rung_in_order(world: World):
    case = await _raise(world, "s-b-1", ZHANG_UIN, workload="pay-gw", pod="pay-gw-7d9f-x2")
    assert case.owner == "张三" and world.spoken == [("张三", case.id)]
    await _climb(world, case, [1, 6, 6, 16, 20, 31, 60, 120])
    assert [r.service for r in world.bots.received] == ["feishu", "dingtalk"]
    assert len(world.sms.sms_sent) == 1 and world.sms.sms_sent[0]["TemplateParamSet"][0] == str(case.id)
    assert all(f"#{case.id}" in r.text and "收到" in r.text for r in world.bots.received)
    assert not world.bots.refused  # every signature verified
    log = world.notify.notes_log.entries(case.id)
    assert [(e.rung, e.channel, e.status.value) for e in log] == [
        (1, "feishu-b", "sent"), (2, "dingtalk-b", "sent"), (3, "sms-b", "sent"),
    ]  # fmt: skip


async def test_shou_dao_stops_the_ladder(world: World):
    case = await _raise(world, "s-b-2", ZHANG_UIN, workload="pay-gw", pod="pay-gw-7d9f-x3")
    await _climb(world, case, [6])
    ctx = TurnContext(owner="张三", device=None, today=date.today())  # type: ignore[arg-type]
    ctx.memory.case_id = case.id
    reply = await AlertingSkills(world.notify, "Asia/Shanghai").acknowledge(
        Intent("acknowledge", text="收到"), ctx
    )
    assert "不会再升级" in reply.text
    await _climb(world, case, [16, 31, 90])
    assert len(world.bots.received) == 1 and world.sms.sms_sent == []
    assert any(
        "已确认" in str(e.detail) and e.actor == "owner:张三" for e in world.cases.store.timeline(case.id)
    )


async def test_a_restart_in_the_middle_of_the_ladder_resumes_without_duplicates(world: World):
    case = await _raise(world, "s-b-3", ZHANG_UIN, workload="pay-gw", pod="pay-gw-7d9f-x4")
    await _climb(world, case, [6])
    created = case.created_at if case.created_at.tzinfo else case.created_at.replace(tzinfo=UTC)
    world.notify.ladder.sweep(created + timedelta(minutes=16))  # rung 2 queued, then the process stops
    await world.alerts.stop()
    await world.notify.stop()
    world.db.dispose()

    again = await _world(Database(world.db.url), world.tmp, world.bots, world.sms, world.spoken)
    try:
        await _climb(again, case, [16, 17, 31, 32, 60])
        await again.cases.dispatcher.dispatch_once()
    finally:
        await again.alerts.stop()
        await again.notify.stop()
    assert [r.service for r in world.bots.received] == ["feishu", "dingtalk"]
    assert len(world.sms.sms_sent) == 1


async def test_a_silence_suppresses_a_matching_alert_and_lets_another_through(world: World):
    now = datetime.now(UTC)
    world.notify.silences.add(
        SilenceIn(owner="张三", matchers=[Matcher(name="workload", value="pay-gw")],
                  starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=2)),
        created_by="owner:张三",
    )  # fmt: skip
    silenced = await _raise(world, "s-b-4", ZHANG_UIN, workload="pay-gw", pod="pay-gw-7d9f-x5")
    await _raise(world, "s-b-5", ZHANG_UIN, workload="ledger", pod="ledger-5c8b-q1")
    other = next(c for c in world.cases.list_cases() if c.id != silenced.id)
    assert world.spoken == [("张三", other.id)]
    assert any("静默中" in str(e.detail) for e in world.cases.store.timeline(silenced.id))
    await _climb(world, silenced, [6, 16])
    # a silenced case does not escalate during the silence; the other one does
    assert not any(f"#{silenced.id}：" in r.text for r in world.bots.received)
    assert any(f"#{other.id}：" in r.text for r in world.bots.received)


def test_the_escalation_message_carries_cause_fix_case_and_how_to_ack():
    from server.notify.service import brief_from_case

    case = Case(
        id=9, status=State.WAIT_GATE,
        version=1, owner="a", account=None, title="t", severity="warning", resource="", alert_id=None,
        alert_group_id=None,
        plan=validate_plan({"summary": "恢复 pay-config", "risk": "low", "rationale": "ConfigMap pay-config 被修改",
                            "actions": [{"type": "noop", "reason": "manual"}]}),
        plan_risk=None, reason="", created_at=datetime.now(UTC), updated_at=datetime.now(UTC),
    )  # fmt: skip
    brief = brief_from_case(case)
    assert brief.cause == "ConfigMap pay-config 被修改" and brief.fix == "恢复 pay-config"
