"""What one device's dialogue remembers between turns (typed; written by the session and the skills)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from server.intent.models import Expect, Intent

if TYPE_CHECKING:
    from server.cases.pinning import SpokenPlan
    from server.voiceprint.enrolment import EnrolmentDialogue


@dataclass(frozen=True)
class PendingChallenge:
    """The approval challenge just spoken: its id, the case, and exactly the plan that was read aloud."""

    challenge_id: str
    case_id: int
    plan: SpokenPlan


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "user" | "assistant"
    content: str


@dataclass
class DialogueMemory:
    expect: Expect = Expect.NOTHING  # what the robot just asked: how the next utterance is read
    candidate: Intent | None = None  # Expect.CONFIRM: the intent "你是想…吗？" was about
    last_day: str | None = None  # the day the last broadcast / drill-down talked about (ISO)
    last_drill: str | None = None  # the last drill-down kind, or "advice"
    case_id: int | None = None  # the alert case the robot last spoke about
    enrolment: EnrolmentDialogue | None = None  # voice enrolment in progress
    challenge: PendingChallenge | None = None  # approval challenge awaiting its read-back
    agent_history: dict[str, deque[ChatMessage]] = field(default_factory=dict)  # owner → recent chat

    def expecting(self) -> bool:
        return self.expect is not Expect.NOTHING
