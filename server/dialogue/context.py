"""What a skill knows about the turn it answers: who spoke, on which device, what was said."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from server.dialogue.memory import DialogueMemory
from server.dialogue.replies import Reply
from server.voice.channel import DeviceChannel


@dataclass(frozen=True)
class Speaker:
    """The voiceprint verdict for one utterance: ``owner`` None = guest; ``detail`` = the raw identification."""

    owner: str | None
    detail: Any = None


async def _silent(reply: Reply) -> None:
    return None


@dataclass
class TurnContext:
    owner: str  # whose reports and keys this turn uses
    device: DeviceChannel
    today: date
    guest: bool = False
    memory: DialogueMemory = field(default_factory=DialogueMemory)  # per-session dialogue memory
    speaker: Speaker | None = None
    audio: np.ndarray | None = None  # the utterance (int16 16 kHz), for enrolment
    text: str = ""
    say: Callable[[Reply], Awaitable[None]] = _silent  # speak now, before the skill's own reply
