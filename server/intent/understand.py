"""Understanding one utterance without an LLM: rules for the unambiguous, a classifier for the rest.

Order: the wake word alone → greeting; an answer to what the robot just asked (``Expect``) → the follow-up;
a few high-precision rules (volume with a level, "回滚" with its yes/no, voice enrolment); then the
paraphrase classifier (server/intent/classifier.py), whose label is completed with slots (days, log kind,
workload, minutes, time). When the two best intents score close, the result asks back ("你是想听昨天的日志
播报吗？") instead of guessing; when nothing scores well, it is not known (→ LLM router if configured, else chat).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from server.intent.asr_repair import repair
from server.intent.classifier import Scored, concepts, shared_classifier
from server.intent.matcher import (
    GREETING_ONLY,
    ROLLBACK_WORDS,
    STOP_WORDS,
    VOLUME_WORDS,
    _is_enroll,
    _rollback_answer,
    _Utterance,
    is_question,
    normalize,
    strip_wake_word,
)
from server.intent.models import Expect, Intent
from server.intent.slots import (
    find_workload,
    log_kind,
    parse_clock,
    parse_day_slot,
    parse_minutes,
    volume_args,
)
from server.intent.yesno import FILLERS, YesNo, yes_no

MIN_SCORE = 0.2  # below this the classifier's best label is a guess: not a known command
LONG_UTTERANCE = 30  # a polite command runs to ~26 characters; a longer monologue needs a sure reading
LONG_MIN_SCORE = 0.85  # concept features make a many-topic monologue look sure of itself
CLOSE_MARGIN = 0.12  # best two within this → ask back: in catalogue 5-fold CV the best guess is wrong as often as right below it
_LEADING_FILLERS = re.compile(
    r"^(?:嗯+|呃+|额+|唔+|哎+|诶+|喂+|那个|这个|就是|然后|早上好|早安|下午好|晚上好)+"
)
_POLITE = re.compile(r"^(?:请问|请你|请|麻烦你?|帮我|劳驾)")
VOLUME_LOUDER = ("太小", "听不清", "听不见", "听不到")
VOLUME_QUIETER = ("太大", "太吵", "吵死", "好吵")
KIND_CN = {
    "business": "业务日志",
    "event": "事件日志",
    "audit": "审计日志",
    "correlate": "三类日志的关联分析",
}
NEEDS_DAY = ("broadcast", "drill_down", "alerts")
Make = Callable[..., Intent]  # (name, source="matcher", **slots) → Intent


@dataclass(frozen=True)
class Understanding:
    intent: Intent  # the best reading (chat when nothing fits)
    score: float = 1.0
    known: bool = True  # False: no command fits (the LLM router may try)
    confirm: bool = False  # two readings scored close: ask ``question`` before acting on ``intent``
    runner_up: Intent | None = None

    @property
    def question(self) -> str:
        return confirmation_question(self.intent)


def _day_words(day: str | None, today: date) -> str:
    if day is None:
        return ""
    d = date.fromisoformat(day)
    rel = {0: "今天", 1: "昨天", 2: "前天"}.get((today - d).days)
    return rel or f"{d.month}月{d.day}日"


def confirmation_question(intent: Intent, today: date | None = None) -> str:
    today = today or date.today()
    day = _day_words(intent.day, today)
    match intent.name:
        case "broadcast":
            return f"你是想听{day or '昨天'}的日志播报吗？"
        case "drill_down":
            return f"你是想了解{day}{KIND_CN.get(intent.kind or 'correlate', '日志')}吗？"
        case "alerts":
            return f"你是想查询{day}的告警吗？" if day else "你是想查询告警吗？"
        case "rollback_confirm":
            return "你是要回滚吗？"
        case "rollback_deny":
            return "你是说先不回滚吗？"
        case "acknowledge":
            return "你是要认领这条告警吗？"
        case "snooze":
            return "你是想稍后再提醒吗？"
        case "silence_create":
            return "你是想静默这个告警吗？"
        case "silence_list":
            return "你是想查看静默规则吗？"
        case "schedule_create":
            return "你是想设置定时播报吗？"
        case "schedule_list":
            return "你是想查看定时任务吗？"
        case "schedule_cancel":
            return "你是想取消定时播报吗？"
        case "enroll_voiceprint":
            return "你是想注册声纹吗？"
        case "volume":
            return "你是想调节音量吗？"
        case "stop":
            return "你是想让我停下吗？"
        case _:
            return "你是想问我能做什么吗？"


def core_text(norm: str) -> str:
    """Normalised text without the wake word, leading fillers and polite openers."""
    rest = strip_wake_word(norm)
    for _ in range(3):
        rest = _POLITE.sub("", _LEADING_FILLERS.sub("", rest))
    return rest


def understand(
    text: str,
    today: date,
    expect: Expect = Expect.NOTHING,
    workloads: Iterable[str] = (),
    candidate: Intent | None = None,
) -> Understanding:
    """Read one utterance. ``expect``: what the robot just asked; ``candidate``: the intent a confirmation
    question was about (``Expect.CONFIRM``); ``workloads``: names known from the owner's reports."""
    workloads = tuple(workloads)
    text = repair(text, expect, workloads)  # what the recognizer misheard (server/intent/asr_repair.py)
    norm = normalize(text)
    woke = strip_wake_word(norm)
    core = core_text(norm)
    if norm and (not woke.strip(FILLERS) or woke in GREETING_ONLY or woke.strip(FILLERS) in GREETING_ONLY):
        return Understanding(Intent("greeting", {}, text=norm))
    if not core:
        return Understanding(Intent("chat", {}, text=norm), score=0.0, known=False)
    u = _Utterance.of(core)

    def make(name: str, source: str = "matcher", **args: object) -> Intent:
        clean = {k: v for k, v in args.items() if v is not None}
        return Intent(name, clean, source=source, text=norm)  # type: ignore[arg-type]

    if (follow := follow_up(core, u, expect, candidate, today, norm)) is not None:
        return Understanding(follow)
    if ruled := _rules(u, make):
        return Understanding(ruled)

    workloads = tuple(workloads)
    ranked = shared_classifier().rank(mask_workloads(core, workloads))
    best = _complete(ranked[0], u, today, workloads, make)
    long_statement = len(core) > LONG_UTTERANCE and ranked[0].score < LONG_MIN_SCORE
    # "yes"/"leave it" to a rollback nobody proposed is no rollback answer unless it names one (回滚, 旧版本…)
    unasked_rollback = (
        best.name in ("rollback_confirm", "rollback_deny")
        and expect is not Expect.ROLLBACK
        and "ROLLBACK" not in concepts(core)
    )
    if ranked[0].score < MIN_SCORE or long_statement or unasked_rollback:
        return Understanding(make("chat", "classifier"), score=ranked[0].score, known=False)
    second = _complete(ranked[1], u, today, workloads, make) if len(ranked) > 1 else None
    close = (
        second is not None
        and ranked[0].score - ranked[1].score < CLOSE_MARGIN
        and (second.name, second.kind) != (best.name, best.kind)
        and "chat" not in (best.name, second.name)
    )
    close = close or (best.name == "rollback_confirm" and is_question(core))  # "你会回滚吗" approves nothing
    return Understanding(best, score=ranked[0].score, confirm=close, runner_up=second)


def mask_workloads(text: str, workloads: tuple[str, ...]) -> str:
    """A known workload name reads as "服务" for the classifier: the name itself says nothing of the intent."""
    for w in sorted(workloads, key=len, reverse=True):
        key = normalize(w)
        if key and key in text:
            text = text.replace(key, "服务")
    return text


def follow_up(
    core: str,
    u: _Utterance,
    expect: Expect,
    candidate: Intent | None,
    today: date,
    norm: str,
) -> Intent | None:
    """An answer to the robot's last question, or None when the utterance is not one."""
    if expect is Expect.NOTHING:
        return None
    answer = yes_no(core)
    if expect is Expect.ROLLBACK:
        if u.has(*ROLLBACK_WORDS) and (ruled := _rollback_answer(u)):
            return Intent(ruled, {}, source="followup", text=norm)
        if answer is not None:
            name = "rollback_confirm" if answer is YesNo.YES else "rollback_deny"
            return Intent(name, {}, source="followup", text=norm)
    if expect is Expect.CONFIRM and candidate is not None and answer is not None:
        if answer is YesNo.YES:
            return replace(candidate, source="followup")
        return Intent("stop", {}, source="followup", text=norm)
    if expect is Expect.DRILL and answer is not None:
        if answer is YesNo.YES:
            day = parse_day_slot(u, today)
            return Intent(
                "drill_down", {"kind": "correlate"} | ({"day": day} if day else {}), "followup", norm
            )
        return Intent("stop", {}, source="followup", text=norm)
    return None


def _rules(u: _Utterance, make: Make) -> Intent | None:
    if u.has(*VOLUME_WORDS, "调大", "调小") and (vol := _volume(u)):
        return make("volume", **vol)
    if u.has(*ROLLBACK_WORDS) and (answer := _rollback_answer(u)):
        return make(answer)
    if _is_enroll(u):
        return make("enroll_voiceprint")
    if len(u.text) <= 3 and u.has(*STOP_WORDS):
        return make("stop")
    return None


def _volume(u: _Utterance) -> dict[str, int] | None:
    if any(w in u.text for w in VOLUME_LOUDER):
        return {"delta": 10}
    if any(w in u.text for w in VOLUME_QUIETER):
        return {"delta": -10}
    return volume_args(u)


def _complete(scored: Scored, u: _Utterance, today: date, workloads: Iterable[str], make: Make) -> Intent:
    """The classifier's label plus the slots the utterance carries."""
    label = scored.label
    name, kind = ("drill_down", label.removeprefix("drill_")) if label.startswith("drill_") else (label, None)
    explicit = log_kind(u)
    if explicit is not None and name in ("drill_down", "broadcast"):
        name, kind = "drill_down", explicit
    args: dict[str, object] = {}
    if name in NEEDS_DAY:
        args["day"] = parse_day_slot(u, today)
    if name == "drill_down":
        args["kind"] = kind
        args["workload"] = find_workload(u.text, workloads)
    elif name == "volume":
        args.update(_volume(u) or {})
    elif name in ("snooze", "silence_create"):
        args["minutes"] = parse_minutes(u)
    elif name in ("schedule_create", "schedule_cancel"):
        args["time"] = parse_clock(u)
    return make(name, "classifier", **args)


def yesterday(today: date) -> str:
    return (today - timedelta(days=1)).isoformat()
