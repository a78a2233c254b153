"""The one skill table: every intent has a skill and a guest policy; placeholders say so; today's report."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from server.dialogue.context import TurnContext
from server.dialogue.reports import ReportStore
from server.dialogue.skill_table import GUEST_POLICY, GUEST_REPLY, Access, build_skill_table
from server.dialogue.skills import NOT_YET_AVAILABLE, Skills
from server.intent.models import INTENT_NAMES, Expect, Intent
from server.intent.understand import understand

TODAY = date(2026, 11, 27)


def table(tmp_path: Path) -> Skills:
    skills = Skills(ReportStore(tmp_path), "Asia/Shanghai")
    build_skill_table(skills)
    return skills


def ctx(guest: bool = False) -> TurnContext:
    return TurnContext(owner="alice", device=None, today=TODAY, guest=guest)  # type: ignore[arg-type]


def test_every_intent_has_a_skill_and_a_policy(tmp_path: Path) -> None:
    assert set(table(tmp_path).table) == INTENT_NAMES == set(GUEST_POLICY)


@pytest.mark.parametrize("name", sorted(INTENT_NAMES - {"stop", "volume"}))
async def test_guests_are_refused_exactly_where_the_policy_says(tmp_path: Path, name: str) -> None:
    reply = await table(tmp_path).handle(Intent(name, {}), ctx(guest=True))
    refused = reply.sentences[:1] == [GUEST_REPLY[0]]
    assert refused == (GUEST_POLICY[name] is Access.OWNER)


@pytest.mark.parametrize("said", ["收到，我来处理", "十分钟后再提醒我", "屏蔽这个告警", "有哪些定时任务"])
async def test_features_without_a_backend_say_so_plainly(tmp_path: Path, said: str) -> None:
    intent = understand(said, TODAY).intent
    assert intent.name in NOT_YET_AVAILABLE
    reply = await table(tmp_path).handle(intent, ctx())
    assert NOT_YET_AVAILABLE[intent.name] in reply.text and "还没有开通" in reply.text


async def test_todays_logs_explain_when_the_report_comes_and_offer_yesterday(tmp_path: Path) -> None:
    skills = table(tmp_path)
    turn = ctx()
    intent = understand("开始播报今天的日志", TODAY).intent
    assert (intent.name, intent.day) == ("broadcast", "2026-11-27")
    reply = await skills.handle(intent, turn)
    assert "凌晨一点" in reply.text and "昨天" in reply.text and reply.expect is Expect.CONFIRM
    # "好的" runs the offered broadcast of yesterday
    follow = understand("好的", TODAY, reply.expect, candidate=turn.memory.candidate).intent
    assert (follow.name, follow.day) == ("broadcast", "2026-11-26")
    answer = await skills.handle(follow, turn)
    assert "11月26日" in answer.text  # about yesterday (here: that its report does not exist either)
