"""The Intent record that crosses from the router to the dialogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

IntentName = Literal[
    "greeting",  # only the wake word ("你好小智"): answer with a greeting
    "broadcast",  # read the log summary aloud; args: day?, kind?
    "drill_down",  # explain one log kind; args: kind, day?
    "alerts",  # what alerts are open / recent; args: day?
    "rollback_confirm",
    "rollback_deny",
    "enroll_voiceprint",
    "volume",  # args: volume (0-100) or delta (+/-10)
    "stop",  # stop speaking
    "acknowledge",  # "收到" / "我来处理": the owner takes the announced alert
    "snooze",  # "十分钟后再提醒我"; args: minutes?
    "silence_create",  # mute an alert; args: minutes?
    "silence_list",
    "schedule_create",  # a timed broadcast; args: time? (HH:MM)
    "schedule_list",
    "schedule_cancel",  # args: time?
    "help",  # what can you do
    "chat",  # anything else: free conversation
]
INTENT_NAMES: frozenset[str] = frozenset(IntentName.__args__)  # type: ignore[attr-defined]

LogKindArg = Literal["business", "event", "audit", "correlate"]
LOG_KINDS: frozenset[str] = frozenset(LogKindArg.__args__)  # type: ignore[attr-defined]


class Expect(StrEnum):
    """What the robot just asked, i.e. how the next utterance is read (``Reply.expect``)."""

    NOTHING = ""
    DRILL = "drill"  # "是否需要针对某类日志进行更详细的分析？"
    ROLLBACK = "rollback"  # "是否需要回滚？"
    ENROLL = "enroll"  # voice enrolment in progress: the next utterance is a sample
    CHALLENGE = "challenge"  # approval challenge: the next utterance reads back the digits
    CONFIRM = "confirm"  # "你是想听昨天的日志播报吗？": yes runs the candidate intent


@dataclass(frozen=True)
class Intent:
    """What the user wants. ``args`` keys: ``day`` (ISO date), ``kind``, ``workload``, ``volume``, ``delta``,
    ``minutes``, ``time`` (HH:MM)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    source: Literal["matcher", "classifier", "followup", "llm"] = "matcher"
    text: str = ""  # the (normalised) utterance the intent was read from

    def __post_init__(self) -> None:
        if self.name not in INTENT_NAMES:
            raise ValueError(f"unknown intent {self.name!r}")
        kind = self.args.get("kind")
        if kind is not None and kind not in LOG_KINDS:
            raise ValueError(f"unknown log kind {kind!r}")

    @property
    def day(self) -> str | None:
        return self.args.get("day")

    @property
    def kind(self) -> str | None:
        return self.args.get("kind")

    def describe(self) -> str:
        """``intent=drill_down kind=audit day=2026-11-20`` — for the turn log line."""
        return " ".join([f"intent={self.name}", *(f"{k}={v}" for k, v in sorted(self.args.items()))])
