"""Slot extraction: days, log kind, workload, volume, minutes, time of day (pure functions).

Days: 今天/昨天/前天/大前天, 11月20日 / 20号 (``matcher.parse_day``) and weekdays: 上周五, 这周一, 周三
(a bare weekday means the most recent one, today included). Workloads come from the owner's reports, so
only names that exist can be heard; ASR renders "payment-api" as "payment api" / "paymentapi".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from functools import lru_cache

from server.intent.matcher import _log_kind, _Utterance, normalize, parse_day, parse_volume

WEEKDAY_CHARS = "一二三四五六日天"  # 周日 = 周天
_WEEKDAY = re.compile(r"(上上|上个?|这个?|本)?(?:周|星期|礼拜)([一二三四五六日天1-7])")
# minutes per unit; 分中, 刻中/颗中/克中 are how the recognizer writes 分钟 and 刻钟
UNIT_MINUTES = {
    "分钟": 1,
    "分中": 1,
    "小时": 60,
    "钟头": 60,
    "个钟": 60,  # "两个钟" (southern Mandarin): two hours; never 点钟, which needs 个 to be a duration
    "天": 1440,
    "刻钟": 15,
    "刻中": 15,
    "颗中": 15,
    "克中": 15,
}
_MINUTES = re.compile(rf"(\d+)(?:个)?({'|'.join(UNIT_MINUTES)})")
_HALF_HOUR = re.compile(r"半(?:个)?(?:小时|钟头)|半个钟")
_HOURS_AND_HALF = re.compile(r"(\d+)个?半(?:小时|钟头|钟)")
_CLOCK_ACT = re.compile(r"播|念|读|汇报|报告|提醒|叫我|通知")  # what a clock time is for
# Minutes after 点: 半, 一刻/三刻 (刻 heard as its homophones 克/课/颗/可/科), two digits, or one digit with 分.
# No one says 九点零八 as "九点八", and a lone digit is usually something else: "三点一下日报" is 三点念一下日报 with 念
# lost, "九点八给我播" is 九点吧 with 吧 heard as 八.
_CLOCK = re.compile(
    r"(早上|上午|中午|下午|傍晚|晚上|夜里|半夜|午夜|深夜|凌晨|晚)?(\d{1,2})[点:](半|([13])[刻克课颗可科]|(\d{2}|\d(?=分))分?)?"
)


def parse_weekday(text: str, today: date) -> date | None:
    if not (m := _WEEKDAY.search(text)):
        return None
    prefix, wd = m.group(1) or "", m.group(2)
    target = int(wd) - 1 if wd.isdigit() else WEEKDAY_CHARS.index(wd) if wd != "天" else 6
    target = min(target, 6)
    monday = today - timedelta(days=today.weekday())
    if prefix.startswith("上上"):
        return monday - timedelta(days=14) + timedelta(days=target)
    if prefix.startswith("上"):
        return monday - timedelta(days=7) + timedelta(days=target)
    if prefix:  # 这周/本周
        return monday + timedelta(days=target)
    back = (today.weekday() - target) % 7  # bare 周五: the most recent one
    return today - timedelta(days=back)


def parse_day_slot(u: _Utterance, today: date) -> str | None:
    day = parse_day(u, today) or parse_weekday(u.digits, today)
    return day.isoformat() if day else None


def parse_minutes(u: _Utterance) -> int | None:
    if m := _HOURS_AND_HALF.search(u.digits):  # "一个半小时": 90, not the 半小时 inside it
        return int(m.group(1)) * 60 + 30
    if _HALF_HOUR.search(u.text):
        return 30
    if m := _MINUTES.search(u.digits):
        n, unit = int(m.group(1)), m.group(2)
        return n * UNIT_MINUTES[unit]
    if "半天" in u.text:  # half a day: "先静默半天"
        return 720
    if "一天" in u.text:
        return 1440
    return None


# "差一刻十点" (a quarter to ten) → 09:45, "晚上差五分十点" → 21:55: the minutes before the hour named
_BEFORE_HOUR = re.compile(r"(早上|上午|中午|下午|傍晚|晚上|夜里|凌晨|晚)?差(\d{1,2})(分|刻)钟?(\d{1,2})点")
_EVENING = ("下午", "傍晚", "晚上", "夜里", "晚")
# Twelve at night is midnight, 00:00 ("晚上十二点", "半夜十二点", "凌晨十二点"); 半夜/深夜 before six to eleven is
# the evening ("深夜十一点" → 23:00), before one to five the small hours ("半夜三点" → 03:00).
_MIDNIGHT = ("晚上", "夜里", "晚", "半夜", "午夜", "深夜", "凌晨")
_LATE_NIGHT = ("半夜", "午夜", "深夜")


def parse_clock(u: _Utterance) -> str | None:
    """ "每天早上九点半" → 09:30; "下午两点" → 14:00. With two clocks ("我十点开会，你九点五十播一遍") the one
    said just before what is to happen at it (播, 念, 提醒, …)."""
    if m := _BEFORE_HOUR.search(u.digits):
        before = int(m.group(2)) * (15 if m.group(3) == "刻" else 1)
        hour = int(m.group(4)) + (12 if m.group(1) in _EVENING and int(m.group(4)) <= 12 else 0)
        if 0 < before < 60 and 1 <= hour <= 24:
            return f"{hour - 1:02d}:{60 - before:02d}"
    found = list(_CLOCK.finditer(u.digits))
    if not found:
        return None
    m = found[0]
    if len(found) > 1 and (acts := [a.start() for a in _CLOCK_ACT.finditer(u.digits)]):
        m = min(found, key=lambda c: min((a - c.end() for a in acts if a >= c.end()), default=10**6))
    hour = int(m.group(2))
    minute = 30 if m.group(3) == "半" else 15 * int(m.group(4)) if m.group(4) else int(m.group(5) or 0)
    if hour == 12 and m.group(1) in _MIDNIGHT:
        hour = 0
    elif (m.group(1) in _EVENING or (m.group(1) in _LATE_NIGHT and hour >= 6)) and hour < 12:  # 每晚十点
        hour += 12
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def _squash(s: str) -> str:
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]", "", s.lower())


@lru_cache(maxsize=1024)
def _name_keys(workload: str) -> tuple[str, str]:
    """A workload name squashed as written and as ``normalize`` writes it (once per name, not per turn)."""
    return _squash(workload), _squash(normalize(workload))


def find_workload(text: str, workloads: Iterable[str]) -> str | None:
    """The longest known workload named in ``text`` (separators and case ignored; ``text`` may be normalised,
    so a name is also looked for as ``normalize`` writes it: "log-collector" → "日志collector")."""
    squashed = _squash(text)
    hits = [w for w in workloads if any(k and k in squashed for k in _name_keys(w))]
    return max(hits, key=len) if hits else None


def log_kind(u: _Utterance) -> str | None:
    return _log_kind(u)


def volume_args(u: _Utterance) -> dict[str, int] | None:
    return parse_volume(u)
