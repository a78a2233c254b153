"""Schedules as people say them: "每天早上九点播报日志", "工作日八点半提醒我看告警", "每周一十点播报", "取消九点的播报".

Results are a ``ScheduleIn`` (to read back and confirm), a ``CancelRequest``, or a ``ScheduleSpeechError`` with a
sentence to say (e.g. an impossible time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.intent.matcher import numerals_to_digits
from server.schedules.models import WEEKDAY_ZH, ScheduleIn, ScheduleKind

_TIME = re.compile(
    r"(早上|上午|中午|下午|傍晚|晚上|凌晨)?\s*(\d{1,2})\s*[点:：]\s*(半|[1一]刻|[3三]刻|\d{1,2})?\s*分?"
)
_EVENING = ("下午", "傍晚", "晚上")
_WEEKLY = re.compile(
    r"(?:每周|每个?星期|每个?礼拜|周|星期|礼拜)([一二三四五六日天1-7](?:[、和,，]?[一二三四五六日天1-7])*)"
)
_CANCEL = re.compile(r"取消|删掉|删除|不要再|别再|停掉")


class ScheduleSpeechError(ValueError):
    """Why a spoken schedule cannot be made, as a sentence to say."""


@dataclass(frozen=True, slots=True)
class CancelRequest:
    hour: int | None
    minute: int | None
    kind: ScheduleKind | None


def _kind(text: str) -> ScheduleKind | None:
    if "告警" in text or "报警" in text:
        return ScheduleKind.ALERT_REVIEW
    if "播报" in text or "日志" in text or "报告" in text:
        return ScheduleKind.BROADCAST
    return None


def _clock(text: str) -> tuple[int, int] | None:
    m = _TIME.search(text)
    if not m:
        return None
    part, h, mi = m.group(1), int(m.group(2)), m.group(3)
    if part in _EVENING and 1 <= h < 12:
        h += 12
    if part == "中午" and h < 3:
        h += 12
    minute = {"半": 30, "一刻": 15, "1刻": 15, "三刻": 45, "3刻": 45}.get(mi or "")
    if minute is None:
        minute = int(mi) if mi else 0
    if h > 23 or minute > 59:
        raise ScheduleSpeechError(
            f"{h}点{minute}分不是一个有效的时间，请再说一次，比如“每天早上九点播报日志”。"
        )
    return h, minute


def _weekdays(text: str) -> list[int]:
    if "工作日" in text:
        return [0, 1, 2, 3, 4]
    if "周末" in text:
        return [5, 6]
    days: set[int] = set()
    for m in _WEEKLY.finditer(text):  # 每周一和周三 → Monday and Wednesday
        for ch in re.findall(r"[一二三四五六日天1-7]", m.group(1)):
            days.add(6 if ch in "日天7" else WEEKDAY_ZH.index(ch) if ch in WEEKDAY_ZH else int(ch) - 1)
    return sorted(days) if days else list(range(7))  # 每天, or no day said: every day


def parse_spoken_schedule(text: str, *, owner: str) -> ScheduleIn | CancelRequest:
    weekdays = _weekdays(text)  # before numerals become digits: "每周一十点" is Monday at ten
    said = numerals_to_digits(_WEEKLY.sub(" ", text))
    kind = _kind(said)
    clock = _clock(said)
    if _CANCEL.search(said):
        return CancelRequest(hour=clock[0] if clock else None, minute=clock[1] if clock else None, kind=kind)
    if clock is None:
        raise ScheduleSpeechError("几点呢？比如“每天早上九点播报日志”或者“工作日八点半提醒我看告警”。")
    if kind is None:
        raise ScheduleSpeechError("要定时做什么呢？可以定时播报日志，或者提醒你看告警。")
    return ScheduleIn(owner=owner, kind=kind, hour=clock[0], minute=clock[1], weekdays=weekdays)
