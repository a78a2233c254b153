"""Yes / no answers, with hedges — the one place these word lists live.

Read on normalised text (see ``matcher.normalize``). A refusal wins over an agreement in the same answer
("好的，算了" is a no; "行吧" is a yes; "先别" is a no). Only short answers count: a long sentence that
happens to contain "好" is not an answer.
"""

from __future__ import annotations

import re
from enum import StrEnum

# Leading words that turn the answer into a refusal, even when agreement words follow ("算了，好吧").
NO_PREFIXES = (
    "不",
    "别",
    "先别",
    "先不",
    "算了",
    "取消",
    "没必要",
    "暂时不",
    "等一下",
    "等等",
    "再等",
    "还是不",
    "还是别",
    "甭",
    "莫",
    "免了",
)
NO_WORDS = (
    "不用",
    "不要",
    "不行",
    "不了",
    "不必",
    "不需要",
    "不同意",
    "算了",
    "先别",
    "别动",
    "动不得",  # "现在动不得": it must not be touched now
    "不能动",
    "取消",
    "否",
    "再想想",
    "想一想",
    "再说",
    "等等",
    "先等",
    "再等",
    "暂缓",
    "缓一缓",
    "缓缓",
    "考虑",
    "别了",
    "拉倒",
    "免了",
    "没必要",
    "没得必要",
    "冇必要",
    "冇得必要",
)
YES_WORDS = (
    "好",
    "好的",
    "好吧",
    "行",
    "行吧",
    "可以",
    "是",
    "是的",
    "对",
    "对的",
    "嗯",
    "确认",
    "确定",
    "同意",
    "执行",
    "需要",
    "要",
    "没问题",
    "就这么办",
    "就这么做",
    "就这么干",
    "就这样",
    "照办",
    "照做",
    "按你说的办",
    "按你说的来",
    "来吧",
    "开始吧",
    "要得",  # south-western "yes"
    "中",  # Henan "yes"
    "成",
    "妥",
    "没毛病",
    "搞吧",
    "整吧",
    "弄吧",
    "整",
    "干",
    "ok",
    "okay",
    "yes",
    # urgency says yes: "赶紧的", "马上", "快点"
    "赶紧",
    "赶快",
    "马上",
    "立刻",
    "快点",
    "麻溜",
)
FILLERS = "啊呀吗呢吧哦嗯喂了的呗嘛"
NO_EXACT = ("no", "nope", "不", "否", "不行")  # whole answers only ("no" is also inside "notready")
MAX_ANSWER_CHARS = 12


_WHAT_X = re.compile(r"(.)(?:什么|啥)\1")  # "回什么回", "滚啥滚"
# "先回滚再说", "先把它回滚了再说": 先 X 再说 is "X first, the rest can wait" — an order, not a deferral
FIRST_THEN = re.compile(r"先(?:把.{0,12}?)?(?:回滚|回退)(?:了|一下|掉|回去)?再(?:说|讲|看|议|聊)")


class YesNo(StrEnum):
    YES = "yes"
    NO = "no"


def yes_no(text: str) -> YesNo | None:
    """YES, NO, or None when ``text`` (normalised) is not a short answer."""
    if _WHAT_X.search(text) or "不回" in text:
        return YesNo.NO  # "回什么回，不回": a rhetorical "what X" refuses X
    if FIRST_THEN.search(text):
        return YesNo.YES
    bare = text.strip(FILLERS)
    if not bare:
        return YesNo.YES if text.startswith(("嗯", "好")) else None  # a bare "嗯" agrees
    if len(bare) > MAX_ANSWER_CHARS:
        return None
    if text.startswith(NO_PREFIXES) or any(w in text for w in NO_WORDS) or bare in NO_EXACT:
        return YesNo.NO
    if bare in YES_WORDS or text in YES_WORDS or any(bare.startswith(w) for w in YES_WORDS if len(w) > 1):
        return YesNo.YES
    if any(w in bare for w in YES_WORDS if len(w) > 1):
        return YesNo.YES
    return None
