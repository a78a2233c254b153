"""The Intent record that crosses from the router to the dialogue."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    "chat",  # anything else: free conversation
]
INTENT_NAMES: frozenset[str] = frozenset(IntentName.__args__)  # type: ignore[attr-defined]

LogKindArg = Literal["business", "event", "audit", "correlate"]
LOG_KINDS: frozenset[str] = frozenset(LogKindArg.__args__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Intent:
    """What the user wants. ``args`` keys: ``day`` (ISO date), ``kind``, ``volume``, ``delta``."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    source: Literal["matcher", "llm"] = "matcher"
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
