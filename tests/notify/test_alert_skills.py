"""The spoken skills for acknowledgement, snooze and silences, over a real case store (no audio)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from server.cases.service import CaseService
from server.dialogue.alert_skills import GUEST_REFUSAL, AlertingSkills
from server.dialogue.context import TurnContext
from server.intent.models import Expect, Intent
from server.notify.escalation import DEFAULT_POLICY
from server.notify.service import NotifyService
from server.storage.db import Database
from server.vault.crypto import VaultCipher, master_key


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[AlertingSkills, NotifyService, CaseService]]:
    db = Database.sqlite(tmp_path / "s.sqlite3")
    db.create_all()
    cases = CaseService(db)
    notify = NotifyService(db, VaultCipher(master_key("", tmp_path)), cases, policy=DEFAULT_POLICY)
    yield AlertingSkills(notify, "Asia/Shanghai"), notify, cases
    await notify.stop()


def _ctx(owner: str = "alice", *, guest: bool = False, text: str = "") -> TurnContext:
    return TurnContext(owner=owner, device=None, today=date(2026, 11, 27), guest=guest, text=text)  # type: ignore[arg-type]


async def test_shou_dao_acknowledges_the_case_just_spoken_with_the_speaker_as_actor(rig):
    skills, notify, cases = rig
    older = cases.create_case(owner="alice", title="cart 5xx")
    spoken = cases.create_case(owner="alice", title="order-api 5xx")
    ctx = _ctx()
    ctx.memory.case_id = spoken.id
    reply = await skills.acknowledge(Intent("acknowledge", text="收到"), ctx)
    assert "order-api" in reply.text
    assert notify.attention.get(spoken.id).acked_by == "owner:alice"
    assert notify.attention.get(older.id).acked_by is None
    again = await skills.acknowledge(Intent("acknowledge", text="知道了"), ctx)
    assert "已经有人确认" in again.text


async def test_a_guest_voice_cannot_acknowledge_and_is_told_why(rig):
    skills, notify, cases = rig
    case = cases.create_case(owner="alice", title="order-api 5xx")
    reply = await skills.acknowledge(Intent("acknowledge", text="收到"), _ctx(guest=True))
    assert reply.text == GUEST_REFUSAL and notify.attention.get(case.id).acked_by is None


async def test_snooze_pauses_the_case_for_the_minutes_said(rig):
    skills, notify, cases = rig
    case = cases.create_case(owner="alice", title="order-api 5xx")
    reply = await skills.snooze(Intent("snooze", {"minutes": 10}, text="十分钟后再提醒我"), _ctx())
    assert "再提醒你" in reply.text
    assert notify.attention.get(case.id).snoozed_until is not None


async def test_a_silence_is_read_back_and_made_only_after_yes(rig):
    skills, notify, _cases = rig
    ctx = _ctx(text="静默两小时")
    ask = await skills.silence_create(Intent("silence_create", text="静默两小时"), ctx)
    assert ask.expect is Expect.CONFIRM and "确认吗" in ask.text
    assert notify.silences.list("alice") == []
    candidate = ctx.memory.candidate
    assert candidate is not None
    from dataclasses import replace

    done = await skills.silence_create(replace(candidate, source="followup"), ctx)
    assert "已静默" in done.text
    (silence,) = notify.silences.list("alice")
    assert silence.created_by == "owner:alice"
    listed = await skills.silence_list(Intent("silence_list", text="现在有哪些静默"), ctx)
    assert "1条静默" in listed.text


async def test_an_impossible_silence_gets_a_clear_spoken_error(rig):
    skills, notify, _cases = rig
    reply = await skills.silence_create(Intent("silence_create", text="今晚二十五点到二十六点维护"), _ctx())
    assert "不是一个有效的时间" in reply.text and notify.silences.list("alice") == []
