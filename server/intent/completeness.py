"""Is a partial transcript a finished request? Decides how long the endpointer waits in a pause.

The speculative recognition during a pause gives the words so far. A finished command ends the turn at
once; words that announce more (a trailing comma, a conjunction, "算了，", a verb still missing its
object, a number being said) keep the turn open through a longer pause; anything else waits the normal
silence.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import StrEnum

from server.intent.matcher import normalize, strip_wake_word
from server.intent.models import Expect
from server.intent.understand import understand
from server.intent.yesno import YesNo, yes_no

COMPLETE_MIN_SCORE = 0.6  # a classifier reading this sure (and not asked back) is a finished command
# Trailing words after which a speaker is still going (normalised text: punctuation is gone by then).
CONTINUATIONS = (
    "和", "跟", "与", "及", "还有", "然后", "但是", "不过", "可是", "所以", "而且", "或者", "还是", "因为",
    "如果", "就是", "那个", "这个", "嗯", "呃", "额", "算了", "另外", "以及", "并且", "先", "再", "把",
    "给我", "帮我", "请", "麻烦", "的", "里", "中", "在", "对", "调到", "调成", "设成", "设为", "改成",
    "到", "是", "有", "第", "百分之", "先别", "先不", "不过", "但", "要是",
)  # fmt: skip
# Verbs that want an object: unfinished unless the words so far already read as a whole command
# ("审计日志查一下" is one; "帮我查一下" is not yet).
OPEN_VERBS = (
    "看看", "查查", "说说", "讲讲", "告诉我", "查一下", "看一下", "说一下", "讲一下", "问一下", "想知道",
    "想问", "想听", "播报", "分析", "调", "把声音", "把音量",
)  # fmt: skip
_NUMBER_END = re.compile(r"[\d零一二两三四五六七八九十百千]$")
HEDGES = ("算了", "先", "先别", "不过", "但是")  # "算了，" usually goes on ("算了，先不要回滚")
_TRAILING_COMMA = re.compile(r"[，,、；;：:…\-—]\s*$")


class Completeness(StrEnum):
    COMPLETE = "complete"  # a finished command: end the turn now
    INCOMPLETE = "incomplete"  # more is coming: wait through a longer pause
    UNKNOWN = "unknown"  # not a known command, nothing announces more: the normal silence


def completeness(partial: str, today: date, expect: Expect = Expect.NOTHING) -> Completeness:
    raw = unicodedata.normalize("NFKC", partial).strip()
    if not raw:
        return Completeness.UNKNOWN
    if _TRAILING_COMMA.search(raw):
        return Completeness.INCOMPLETE
    norm = normalize(raw)
    rest = strip_wake_word(norm)
    if not rest:  # the wake word alone: the request usually follows
        return Completeness.INCOMPLETE
    answer = yes_no(rest) if expect is not Expect.NOTHING else None
    if answer is YesNo.YES or (answer is YesNo.NO and not rest.endswith(HEDGES)):
        return Completeness.COMPLETE  # a plain answer to the robot's question
    if rest.endswith(CONTINUATIONS):
        return Completeness.INCOMPLETE
    if _NUMBER_END.search(rest):
        return Completeness.UNKNOWN  # a number may still be going on ("五十" → "五十五"): the normal silence
    u = understand(raw, today, expect=expect)
    if u.known and not u.confirm and u.intent.name != "chat" and u.score >= COMPLETE_MIN_SCORE:
        return Completeness.COMPLETE
    if rest.endswith(OPEN_VERBS):
        return Completeness.INCOMPLETE
    return Completeness.UNKNOWN
