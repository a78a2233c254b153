"""What a schedule says at its time, and how it reaches the owner's robot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, tzinfo

from server.cases.fsm import State
from server.cases.service import CaseService
from server.dialogue.reports import ReportStore
from server.schedules.models import Schedule, ScheduleKind
from server.schedules.runner import Announce
from server.speech.text import speakable_sentences

SpeakToOwner = Callable[[str, list[str]], Awaitable[str]]
MAX_SENTENCES = 12


def compose(schedule: Schedule, reports: ReportStore, cases: CaseService, tz: tzinfo) -> list[str]:
    owner = schedule.owner
    if schedule.spec.kind is ScheduleKind.BROADCAST:
        yesterday = (datetime.now(tz) - timedelta(days=1)).date().isoformat()
        summary = reports.latest_summary(owner, not_after=yesterday)
        if summary is None:
            return ["定时播报：还没有日志分析报告。"]
        head = (
            "定时播报昨天的日志。" if summary.day == yesterday else f"定时播报，最近的报告是{summary.day}的。"
        )
        return [head, *speakable_sentences(summary.text)[:MAX_SENTENCES]]
    open_cases = [
        c for c in cases.list_cases(owner=owner, limit=200) if c.status not in (State.CLOSED, State.PARKED)
    ]
    if not open_cases:
        return ["提醒：现在没有未处理的告警。"]
    worst = sorted(open_cases, key=lambda c: ("critical", "warning", "info").index(c.severity)
                   if c.severity in ("critical", "warning", "info") else 3)[0]  # fmt: skip
    return [f"提醒：你有{len(open_cases)}条未处理的告警，最严重的是{worst.title}。", "说“有什么告警”听详情。"]


def announcer(speak: SpeakToOwner, reports: ReportStore, cases: CaseService, tz: tzinfo) -> Announce:
    async def announce(schedule: Schedule) -> str:
        return await speak(schedule.owner, compose(schedule, reports, cases, tz))

    return announce
