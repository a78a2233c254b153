"""Is a partial transcript a finished request? Decides how long the endpointer waits in a pause.

The speculative recognition during a pause gives the words so far:

- words that announce more — a trailing comma, a conjunction, "算了，", a particle or verb still missing
  its object ("的", "里", "把音量调到") — keep the turn open through a long pause (INCOMPLETE). Trailing
  words are compared by fuzzy pinyin, so the recognizer's homophones ("日志理" for "日志里") count too;
- words that already read as a confident command end the turn at once (COMPLETE);
- anything else — including recognizer debris like "昨天当" — waits a medium pause (UNKNOWN).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import StrEnum

from server.intent.matcher import fuzzy_key, normalize, strip_wake_word
from server.intent.models import Expect
from server.intent.understand import understand
from server.intent.yesno import YesNo, yes_no

COMPLETE_MIN_SCORE = 0.75  # a classifier reading this sure (and not asked back) is a finished command
CHAT_COMPLETE_MIN_SCORE = 0.85  # small talk ("今天星期几") needs to look very much like small talk
MIN_COMMAND_CHARS = 4  # shorter partials are too often recognizer debris to end a turn on
# Trailing words after which a speaker is still going, whatever the words before them say.
CONTINUATIONS = (
    "和", "跟", "与", "及", "还有", "然后", "但是", "不过", "可是", "所以", "而且", "或者", "还是", "因为",
    "如果", "就是", "那个", "这个", "嗯", "呃", "额", "算了", "另外", "以及", "并且", "把", "给我", "帮我",
    "请", "麻烦", "的", "里", "中", "调到", "调成", "设成", "设为", "改成", "第", "百分之", "先别", "先不",
    "但", "要是",
)  # fmt: skip
# Trailing words that often end a request too ("收到", "有没有"): unfinished unless the words so far
# already read as a whole command ("审计日志查一下" is one; "帮我查一下" is not yet).
OPEN_ENDINGS = (
    "到", "是", "有", "在", "对", "先", "再", "看看", "查查", "说说", "讲讲", "告诉我", "查一下", "看一下",
    "说一下", "讲一下", "问一下", "想知道", "想问", "想听", "播报", "分析", "调", "把声音", "把音量",
)  # fmt: skip
HEDGES = ("算了", "先", "先别", "不过", "但是")  # "算了，" usually goes on ("算了，先不要回滚")
_TRAILING_COMMA = re.compile(r"[，,、；;：:…\-—]\s*$")
# a question already asked: a question particle at the end, or a question word anywhere
_ASKED = re.compile(r"[吗么嘛呢]$|怎么样|什么|几|多少|哪|谁|为什么|咋|是不是|有没有")
_NUMBER_END = re.compile(r"[\d零一二两三四五六七八九十百千]$")
# Homophones count for multi-syllable continuations and for the particles the recognizer most often swaps
# (里/理, 的/得, 和/合); other single syllables match exactly ("几" is not "及").
FUZZY_PARTICLES = ("里", "的", "和")
_CONTINUATION_KEYS = tuple(fuzzy_key(w) for w in CONTINUATIONS if len(w) > 1 or w in FUZZY_PARTICLES)


class Completeness(StrEnum):
    COMPLETE = "complete"  # a finished command: end the turn now
    INCOMPLETE = "incomplete"  # more is coming: wait through a long pause
    UNKNOWN = "unknown"  # not a known command, nothing announces more: a medium pause


def _ends_with_continuation(text: str) -> bool:
    if text.endswith(CONTINUATIONS):
        return True
    key = fuzzy_key(text)
    return any(len(k) <= len(key) and key[len(key) - len(k) :] == k for k in _CONTINUATION_KEYS)


def completeness(partial: str, today: date, expect: Expect = Expect.NOTHING) -> Completeness:
    raw = unicodedata.normalize("NFKC", partial).strip()
    if not raw:
        return Completeness.UNKNOWN
    if _TRAILING_COMMA.search(raw):
        return Completeness.INCOMPLETE
    rest = strip_wake_word(normalize(raw))
    if not rest:  # the wake word alone: the request usually follows
        return Completeness.INCOMPLETE
    answer = yes_no(rest) if expect is not Expect.NOTHING else None
    if answer is YesNo.YES or (answer is YesNo.NO and not rest.endswith(HEDGES)):
        return Completeness.COMPLETE  # a plain answer to the robot's question
    if _ends_with_continuation(rest):
        return Completeness.INCOMPLETE
    if _NUMBER_END.search(rest):
        return Completeness.UNKNOWN  # a number may still be going on ("五十" → "五十五")
    u = understand(raw, today, expect=expect)
    confident = u.known and not u.confirm and len(rest) >= MIN_COMMAND_CHARS
    floor = CHAT_COMPLETE_MIN_SCORE if u.intent.name == "chat" else COMPLETE_MIN_SCORE
    if confident and u.score >= floor:
        return Completeness.COMPLETE
    if u.intent.name == "chat" and _ASKED.search(rest) and len(rest) >= MIN_COMMAND_CHARS:
        return Completeness.COMPLETE  # small talk asked as a question ("今天天气怎么样") is finished
    if rest.endswith(OPEN_ENDINGS):
        return Completeness.INCOMPLETE
    return Completeness.UNKNOWN
