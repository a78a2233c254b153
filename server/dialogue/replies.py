"""What a skill answers: sentences to speak (a list, or a stream for LLM answers) plus dialogue state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from server.intent.models import Expect


@dataclass
class Reply:
    sentences: list[str] = field(default_factory=list)
    stream: AsyncIterator[str] | None = None  # sentences produced while speaking (LLM streaming)
    emotion: str = "neutral"
    expect: Expect = Expect.NOTHING  # what the robot just asked (how the next utterance is read)
    handled_speech: bool = False  # the skill already spoke (e.g. on-demand analysis with progress)

    @classmethod
    def say(cls, *sentences: str, emotion: str = "neutral", expect: Expect = Expect.NOTHING) -> Reply:
        return cls(sentences=[s for s in sentences if s], emotion=emotion, expect=expect)

    @property
    def text(self) -> str:
        return "".join(self.sentences)
