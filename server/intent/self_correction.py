"""What the speaker meant after correcting themselves mid-sentence, and clauses that are only fillers.

People fix a value as they speak: "昨天，不对，今天的业务日志", "音量调到七十，不对，六十", "早上七点，呃不对，七点半".
The corrected value replaces the earlier value of the same kind (a day, a number with its unit, a clock time);
a correction that names no value replaces what came before it ("播报日志，不对，我要听告警"). Read on the raw
transcript, because the commas that mark the correction are gone after normalisation.

"帮我查一下，就是那个，告警": a clause that is only a filler ("就是那个", "呃") is dropped, so the key word said last
is read with the request before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_SEP = r"[，,。.！!？?；;、\s…]"
_NUM = "0-9零〇一二两三四五六七八九十百"
_DAY = (
    rf"(?:大前天|前天|昨天|昨儿个?|今天|今儿个?|(?:上上|上个?|这个?|本)?(?:周|星期|礼拜)[一二三四五六日天]"
    rf"|[{_NUM}]+月[{_NUM}]+[日号]|[{_NUM}]+[日号])"
)
_CLOCK = rf"(?:[{_NUM}]+[点:：](?:半|[一三]刻|[{_NUM}]+分?)?)"
# the part of the day a clock may be said with ("早上七点，不是，早上七点四十五的那个")
_PARTS_OF_DAY = "早上|上午|中午|下午|傍晚|晚上|夜里|半夜|凌晨"
_PART_OF_DAY = re.compile(rf"(?:{_PARTS_OF_DAY})$")
_VALUE_NEXT = rf"(?:{_DAY}|(?:{_PARTS_OF_DAY})?{_CLOCK}|[{_NUM}]+(?:个)?(?:分钟|小时|钟头|天))"
# "，不对，" / "，呃不对，" / "，说错了，" / "，不是不是，": a correction marker between clauses
_MARKER = re.compile(
    rf"{_SEP}+(?:呃|嗯|额|啊|哦|噢)?(?:不对不对|不对|说错了|我说错了|讲错了|错了|不是不是|更正一下|纠正一下"
    rf"|[哦噢啊]不(?={_SEP})"
    # "周四的业务日志，等下，是周三的": a wait, then 是 and a value, corrects that value
    rf"|(?:等下|等等|等一下|慢着)(?={_SEP}*是(?:{_DAY}|{_CLOCK}))"
    # "七点，不，七点半", "五分钟，不是，十分钟": a bare 不 or 不是 between pauses, then a value
    # (a bare 不 may come without the pause after it: "十分钟，不二十分钟" as heard; 不是 may not: "不是今天的")
    rf"|不(?={_SEP}*{_VALUE_NEXT})|不是(?={_SEP}+{_VALUE_NEXT})"
    # "等一下……算了，还是回滚吧": never mind what came before, the request is what follows 还是
    rf"|算了(?={_SEP}+还是))(?:{_SEP}*是)?{_SEP}*"  # ("不对，是八点四十五的": the 是 after the pause too)
)
# a bare number must look like one: digits, or Chinese numerals other than the "一" of "一下"/"一点"
# (digits inside a Latin word are no number: the 8 of "k8s")
_BARE = rf"(?:(?<![A-Za-z0-9])[0-9]+%?(?![A-Za-z])|[零〇二两三四五六七八九十百][{_NUM}]*|一[{_NUM}]+)"
# ("两个钟", "半个钟": southern Mandarin hours)
_AMOUNT = rf"(?:[{_NUM}]+(?:个)?(?:分钟|小时|钟头|天|刻钟)|[{_NUM}]+个钟|半(?:个)?(?:小时|钟头)|半个钟|百分之[{_NUM}]+|{_BARE})"
# (唔 alone before a pause is a hesitation, "唔……要，回滚"; 唔 before a word is Cantonese 不: "唔好回滚")
_FILLER_CLAUSE = re.compile(
    rf"(?:^|(?<={_SEP}))(?:就是|那个|这个|呃+|嗯+|额+|唔+|然后|就是那个|就那个)+{_SEP}+"
)


class ValueKind(StrEnum):
    DAY = "day"
    CLOCK = "clock"
    AMOUNT = "amount"


_PATTERNS: dict[ValueKind, re.Pattern[str]] = {
    ValueKind.DAY: re.compile(_DAY),
    ValueKind.CLOCK: re.compile(_CLOCK),
    ValueKind.AMOUNT: re.compile(_AMOUNT),
}


@dataclass(frozen=True)
class Value:
    kind: ValueKind
    start: int
    end: int


def _first_value(text: str) -> Value | None:
    """The first day, clock time or amount in ``text`` (a clock before a bare number)."""
    found = [
        Value(kind, m.start(), m.end()) for kind, pattern in _PATTERNS.items() if (m := pattern.search(text))
    ]
    return min(found, key=lambda v: (v.start, -v.end)) if found else None


def _last_value(text: str, kind: ValueKind) -> Value | None:
    matches = list(_PATTERNS[kind].finditer(text))
    return Value(kind, matches[-1].start(), matches[-1].end()) if matches else None


# "前天的，不对，昨天的" heard as "前天等部队，昨天的": 不对 and 部队 sound the same (bu dui), and the commas
# around it are lost. Between two values of the same kind it can only be the correction.
# ("音量调到六十，部队七十", "下午三点，我不三点半": amounts too, and 哦不 heard as 我不 right before the value)
_HEARD_MARKER = re.compile(
    rf"(?P<old>{_DAY}|{_CLOCK}|{_AMOUNT})[的得地等]?{_SEP}*(?:啊|阿|而|呃|额)?"
    rf"(?:部队|步队|不对|窝布|[哦噢我窝喔]不(?={_SEP}|[{_NUM}]|{_DAY}))"
)


# ... or heard between a request and the value that corrects it ("11月20号的日志播报一下部队是21号的"): a value of
# the same kind said earlier in the sentence is what it corrects.
_HEARD_MARKER_BEFORE = re.compile(
    rf"(?:部队|步队|(?<={_SEP})[哦噢我]不)(?:是|{_SEP})*(?=(?P<new>{_DAY}|{_CLOCK}))"
)

_SEP_CHARS = "，,。.！!？?；;、 …"  # what _SEP matches, for lstrip


def _restore_marker(text: str) -> str:
    out = text
    for m in reversed(list(_HEARD_MARKER.finditer(text))):
        after = text[m.end() :].lstrip(_SEP_CHARS)
        kind = next((k for k, p in _PATTERNS.items() if p.fullmatch(m.group("old"))), None)
        if kind is None:
            continue
        if _PATTERNS[kind].match(after) or (
            kind is ValueKind.CLOCK and _PATTERNS[ValueKind.AMOUNT].match(after)
        ):
            out = out[: m.end("old")] + "，不对，" + out[m.end() :].lstrip(_SEP_CHARS)
    if out != text:
        return out
    for m in reversed(list(_HEARD_MARKER_BEFORE.finditer(text))):
        kind = next((k for k, p in _PATTERNS.items() if p.fullmatch(m.group("new"))), None)
        if kind is not None and _last_value(text[: m.start()], kind) is not None:
            out = out[: m.start()].rstrip(_SEP_CHARS) + "，不对，" + out[m.end() :]
    return out


# "每天早上七点四十播一次日报，呃，七点五十吧": a last clause that is only a value, said with 吧 (or 好了/算了),
# corrects the value of the same kind said before it, with no marker at all
_AFTERTHOUGHT = re.compile(
    rf"{_SEP}+(?:呃|嗯|额|啊|得|那|要不|还是|{_SEP})*(?P<new>{_DAY}|{_CLOCK})的?(?:吧|好了|算了|得了){_SEP}*$"
)


def _apply_afterthought(text: str) -> str:
    if not (m := _AFTERTHOUGHT.search(text)):
        return text
    kind = next((k for k, p in _PATTERNS.items() if p.fullmatch(m.group("new"))), None)
    before = text[: m.start()]
    old = _last_value(before, kind) if kind is not None else None
    if old is None:
        return text
    return before[: old.start] + m.group("new") + before[old.end :]


# "11月20号，不是11月22号的…": 不是 right after a value and a pause, then a value of its kind, corrects it even
# without a pause after it (which "不是" needs elsewhere: "帮我看下日志，不是今天的" is no correction)
_VALUE_THEN_NOT = re.compile(rf"(?<=[号日天点半时钟分])({_SEP}+)不是(?={_VALUE_NEXT})")


def resolve_corrections(text: str) -> str:
    """``text`` with each mid-sentence correction applied; unchanged when there is none."""
    text = _VALUE_THEN_NOT.sub(r"\1不是，", text)
    text = _apply_afterthought(_restore_marker(text))
    while m := _MARKER.search(text):
        before, after = text[: m.start()], text[m.end() :]
        if not before.strip() or not after.strip():
            break  # "不对" that opens or ends the utterance corrects the robot, not the speaker
        value = _first_value(after)
        if value is None:
            text = after  # the whole request was corrected
            continue
        old = _last_value(before, value.kind)
        if old is None and value.kind is ValueKind.AMOUNT:
            old = _last_value(before, ValueKind.CLOCK)  # "七点，不对，八点半" reads 八 as an amount first
        if old is None:
            text = before + "，" + after
            continue
        # the old value goes; the rest of what was said before it stays, the correction follows it
        kept = before[: old.start]
        if _PART_OF_DAY.search(after[: value.start]):
            kept = _PART_OF_DAY.sub("", kept)  # the part of the day said again goes with the old clock
        text = kept + after[: value.end] + before[old.end :] + after[value.end :]
    return text


def drop_filler_clauses(text: str) -> str:
    """ "帮我查一下，就是那个，告警" → "帮我查一下，告警"."""
    return _FILLER_CLAUSE.sub("", text) or text
