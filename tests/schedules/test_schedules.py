"""Spoken schedules: parsing, read-back, persistence, firing once per slot across restarts, catch-up."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from server.dialogue.context import TurnContext
from server.dialogue.schedule_skills import ScheduleSkills
from server.intent.models import Expect, Intent
from server.schedules.models import Schedule, ScheduleIn, ScheduleKind
from server.schedules.runner import ScheduleRunner, latest_slot
from server.schedules.spoken import CancelRequest, ScheduleSpeechError, parse_spoken_schedule
from server.schedules.store import ScheduleStore
from server.storage.db import Database

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def store(tmp_path: Path) -> ScheduleStore:
    db = Database.sqlite(tmp_path / "sched.sqlite3")
    db.create_all()
    return ScheduleStore(db)


@pytest.mark.parametrize(
    ("said", "kind", "hour", "minute", "days"),
    [
        ("每天早上九点播报日志", ScheduleKind.BROADCAST, 9, 0, list(range(7))),
        ("工作日八点半提醒我看告警", ScheduleKind.ALERT_REVIEW, 8, 30, [0, 1, 2, 3, 4]),
        ("每周一十点播报", ScheduleKind.BROADCAST, 10, 0, [0]),
        ("周末晚上八点播报日志", ScheduleKind.BROADCAST, 20, 0, [5, 6]),
        ("每周一和周三九点一刻提醒我看告警", ScheduleKind.ALERT_REVIEW, 9, 15, [0, 2]),
    ],
)
def test_spoken_schedules(said, kind, hour, minute, days):
    got = parse_spoken_schedule(said, owner="alice")
    assert isinstance(got, ScheduleIn)
    assert (got.kind, got.hour, got.minute, got.weekdays) == (kind, hour, minute, days)


def test_cancel_and_impossible_times():
    assert parse_spoken_schedule("取消九点的播报", owner="a") == CancelRequest(9, 0, ScheduleKind.BROADCAST)
    for said in ("每天二十五点播报日志", "每天九点七十分提醒我看告警", "每天播报日志", "每天九点"):
        with pytest.raises(ScheduleSpeechError) as err:
            parse_spoken_schedule(said, owner="a")
        assert str(err.value).endswith(("。", "？"))


def _schedule(store: ScheduleStore, created: datetime | None = None) -> Schedule:
    s = store.add(
        ScheduleIn(owner="alice", kind=ScheduleKind.BROADCAST, hour=9, minute=0, weekdays=[0, 1, 2, 3, 4]),
        "t",
    )
    return replace(s, created_at=created) if created else s


def test_latest_slot_respects_weekdays(store):
    s = _schedule(store)
    sat_10 = datetime(2026, 11, 28, 10, 0, tzinfo=TZ)  # a Saturday
    assert latest_slot(s, sat_10) == datetime(2026, 11, 27, 9, 0, tzinfo=TZ)  # Friday's
    assert latest_slot(s, datetime(2026, 11, 27, 8, 59, tzinfo=TZ)) == datetime(2026, 11, 26, 9, 0, tzinfo=TZ)


async def test_a_slot_fires_once_even_across_a_restart(store):
    said: list[str] = []

    async def announce(schedule: Schedule) -> str:
        said.append(schedule.owner)
        return "spoken on dev-1"

    s = _schedule(store)
    at_nine = datetime(2026, 11, 27, 9, 0, 2, tzinfo=TZ)
    first = ScheduleRunner(store, announce, TZ)
    assert await first.fire(s.id, at_nine) == "spoken on dev-1"
    assert await first.fire(s.id, at_nine + timedelta(seconds=30)) is None  # coalesced retry: same slot
    restarted = ScheduleRunner(ScheduleStore(Database(store.db.url)), announce, TZ)
    assert await restarted.catch_up(at_nine + timedelta(minutes=5)) == 0
    assert said == ["alice"]
    assert store.fires(s.id) == [("2026-11-27T09:00", "spoken on dev-1")]


async def test_a_slot_missed_while_down_is_announced_at_start_if_recent(store):
    said: list[str] = []

    async def announce(schedule: Schedule) -> str:
        said.append(schedule.owner)
        return "pushed (notify)"

    s = _schedule(store)
    runner = ScheduleRunner(store, announce, TZ)
    assert await runner.catch_up(datetime(2026, 11, 27, 10, 0, tzinfo=TZ)) == 0  # an hour late: not now
    assert await runner.catch_up(datetime(2026, 11, 30, 9, 10, tzinfo=TZ)) == 1  # Monday, 10 min late
    assert said == ["alice"] and store.fires(s.id)[0][0] == "2026-11-30T09:00"


async def test_cancelled_schedules_never_fire(store):
    async def announce(schedule: Schedule) -> str:
        raise AssertionError("must not fire")

    s = _schedule(store)
    assert store.cancel(s.id) and not store.cancel(s.id)
    assert (
        await ScheduleRunner(store, announce, TZ).fire(s.id, datetime(2026, 11, 27, 9, 0, tzinfo=TZ)) is None
    )


def _ctx(text: str) -> TurnContext:
    return TurnContext(owner="alice", device=None, today=date(2026, 11, 27), text=text)  # type: ignore[arg-type]


async def test_spoken_create_is_read_back_then_listed_and_cancelled(store):
    async def announce(schedule: Schedule) -> str:
        return "ok"

    skills = ScheduleSkills(store, ScheduleRunner(store, announce, TZ))
    ctx = _ctx("每天早上九点播报日志")
    ask = await skills.create(Intent("schedule_create", text="每天早上九点播报日志"), ctx)
    assert ask.expect is Expect.CONFIRM and "每天9点播报日志" in ask.text and store.active() == []
    assert ctx.memory.candidate is not None
    done = await skills.create(replace(ctx.memory.candidate, source="followup"), ctx)
    assert "已设置" in done.text and len(store.active("alice")) == 1
    listed = await skills.list_schedules(Intent("schedule_list", text="我有哪些定时任务"), ctx)
    assert "1个定时任务" in listed.text
    cancelled = await skills.cancel(Intent("schedule_cancel", text="取消九点的播报"), _ctx("取消九点的播报"))
    assert "已取消" in cancelled.text and store.active() == []


async def test_an_impossible_spoken_schedule_gets_a_clear_error(store):
    async def announce(schedule: Schedule) -> str:
        return "ok"

    skills = ScheduleSkills(store, ScheduleRunner(store, announce, TZ))
    reply = await skills.create(
        Intent("schedule_create", text="每天二十五点播报日志"), _ctx("每天二十五点播报日志")
    )
    assert "不是一个有效的时间" in reply.text and store.active() == []
