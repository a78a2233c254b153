"""Spoken silences: "静默两小时", "今晚十点到十二点维护，期间别报 order-api", "接下来半小时别报 payment 命名空间".

The result is a ``SilenceIn`` to read back for confirmation, or a ``SilenceSpeechError`` whose message is a
sentence the robot can say. Workload and namespace names come as ASR writes Latin words; names the owner's
reports know are preferred, so an ASR-mangled name does not silence the wrong thing.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, timedelta

from server.intent.matcher import numerals_to_digits
from server.silences.models import MAX_SILENCE_HOURS, Matcher, MatchOp, SilenceIn

_DURATION = re.compile(r"(\d+(?:\.\d+)?|半)\s*个?\s*(半)?\s*(小时|钟头|分钟|分|天)")
_DAY_WORD = r"(今天|今晚|明天|明早|明晚|后天)?"
_PART = r"(上午|早上|中午|下午|傍晚|晚上|凌晨|夜里)?"
_CLOCK = r"(\d{1,2})\s*[点:：]\s*(半|\d{1,2})?\s*分?"
_WINDOW = re.compile(
    _DAY_WORD + r"\s*" + _PART + r"\s*" + _CLOCK + r"\s*(?:到|至|-|~)\s*" + _PART + r"\s*" + _CLOCK
)
_NAME = re.compile(r"(?<![A-Za-z0-9-])([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![A-Za-z0-9-])")
_NAMESPACE_AFTER = re.compile(r"([a-z][a-z0-9-]*)\s*(?:的)?\s*(?:命名空间|名字空间|namespace)")
_NAMESPACE_BEFORE = re.compile(r"(?:命名空间|名字空间|namespace)\s*([a-z][a-z0-9-]*)")
_EVENING = ("下午", "傍晚", "晚上", "夜里", "今晚", "明晚")
_STOPWORDS = frozenset({"ok", "app", "pod", "api", "namespace", "k8s"})


class SilenceSpeechError(ValueError):
    """Why a spoken silence cannot be made, as a sentence to say."""


def _minutes(m: re.Match[str]) -> float:
    amount = 0.5 if m.group(1) == "半" else float(m.group(1))
    if m.group(2):  # 一个半小时
        amount += 0.5
    unit = m.group(3)
    return amount * {"小时": 60, "钟头": 60, "分钟": 1, "分": 1, "天": 1440}[unit]


def _hour(part: str | None, day_word: str | None, h: int, minute_text: str | None) -> tuple[int, int]:
    if h > 24:
        raise SilenceSpeechError(f"{h}点不是一个有效的时间，请再说一次。")
    evening = (part or "") in _EVENING or (day_word or "") in ("今晚", "明晚")
    if evening and 1 <= h < 12:
        h += 12
    if (part or "") == "中午" and h < 3:
        h += 12
    minute = 30 if minute_text == "半" else int(minute_text or 0)
    if minute >= 60:
        raise SilenceSpeechError(f"{minute}分不是一个有效的时间，请再说一次。")
    return h, minute


def _window(m: re.Match[str], now: datetime) -> tuple[datetime, datetime]:
    day_word, part1, h1, mi1, part2, h2, mi2 = m.groups()
    base = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if day_word in ("明天", "明早", "明晚"):
        base += timedelta(days=1)
    elif day_word == "后天":
        base += timedelta(days=2)
    sh, sm = _hour(part1, day_word, int(h1), mi1)
    # the end inherits the start's part of day ("晚上十点到十二点")
    eh, em = _hour(part2 or part1, day_word, int(h2), mi2)
    start = base + timedelta(hours=sh, minutes=sm)
    end = base + timedelta(hours=eh, minutes=em)
    if eh == 12 and em == 0 and sh >= 12 and (part2 is None):
        end = base + timedelta(days=1)  # "十点到十二点" in the evening ends at midnight
    if end <= start:
        end += timedelta(days=1)  # crosses midnight: 23点到1点
    if day_word is None and end <= now:
        start, end = (
            start + timedelta(days=1),
            end + timedelta(days=1),
        )  # a time already past means tomorrow's
    return start, end


def _targets(text: str, known_workloads: Collection[str]) -> list[Matcher]:
    matchers: list[Matcher] = []
    namespaces = {m.group(1) for m in _NAMESPACE_AFTER.finditer(text)} | {
        m.group(1) for m in _NAMESPACE_BEFORE.finditer(text)
    }
    for ns in sorted(namespaces):
        matchers.append(Matcher(name="namespace", value=ns))
    names = [n for n in _NAME.findall(text) if n not in namespaces and n not in _STOPWORDS and len(n) >= 3]
    known = {w.lower(): w for w in known_workloads}
    workloads = [known.get(n, n) for n in dict.fromkeys(names)]
    if len(workloads) == 1:
        matchers.append(Matcher(name="workload", value=workloads[0]))
    elif workloads:
        alternation = "|".join(re.escape(w) for w in workloads)
        matchers.append(Matcher(name="workload", op=MatchOp.RE, value=f"({alternation})"))
    return matchers


def parse_spoken_silence(
    text: str, *, owner: str, now: datetime, known_workloads: Collection[str] = ()
) -> SilenceIn:
    """A silence from a spoken request, to be read back and confirmed before it is stored."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (the owner's local time)")
    said = numerals_to_digits(text).lower()
    window = _WINDOW.search(said)
    if window:
        start, end = _window(window, now)
    else:
        duration = _DURATION.search(said)
        if not duration:
            raise SilenceSpeechError("要静默多久呢？比如“静默两小时”，或者“今晚十点到十二点维护”。")
        minutes = _minutes(duration)
        if minutes <= 0:
            raise SilenceSpeechError("静默时长要大于零，请再说一次。")
        start, end = now, now + timedelta(minutes=minutes)
    if (end - start).total_seconds() > MAX_SILENCE_HOURS * 3600:
        raise SilenceSpeechError(f"静默最长{MAX_SILENCE_HOURS // 24}天，请说一个短一点的时间。")
    rest = _WINDOW.sub(" ", said) if window else said
    matchers = _targets(rest, known_workloads)
    return SilenceIn(owner=owner, matchers=matchers, starts_at=start, ends_at=end, comment=text[:200])
