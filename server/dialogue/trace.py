"""Typed, timestamped stage events of one voice turn (as Home Assistant's assist pipeline does).

The same events feed the log line of each turn, the live console and the latency benchmarks:

    turn dev-1: text='审计日志里谁改了配置' intent=drill_down day=2026-11-26 kind=audit asr=212ms first_audio=480ms

Times are measured from ``started`` = the end of the user's speech (or the moment typed text arrived).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

TurnListener = Callable[["TurnTrace"], None]
MAX_LOGGED_TEXT = 80  # characters of the transcript in the log line (logs stay bounded)


class Stage(StrEnum):
    ENDPOINT = "endpoint"  # the endpointer decided the utterance ended (data: silence_ms, adaptive)
    ASR = "asr"  # transcript ready (data: text, path, speculative)
    EMPTY = "empty"  # nothing was recognised
    INTENT = "intent"  # the resolved intent (data: intent, args, source, confirm)
    REPLY = "reply"  # the skill's reply is ready (data: sentences, hook)
    TTS_FIRST = "tts_first"  # the first sentence is synthesized
    FIRST_AUDIO = "first_audio"  # the first audio frame left for the device
    SPOKEN = "spoken"  # playback finished (data: frames, aborted)
    CANCELLED = "cancelled"
    ERROR = "error"


class StageEvent(NamedTuple):
    stage: Stage
    at: float  # time.monotonic()
    data: dict[str, Any]


@dataclass
class TurnTrace:
    device_id: str
    started: float = field(default_factory=time.monotonic)  # end of user speech (or text received)
    stages: list[StageEvent] = field(default_factory=list)

    def mark(self, stage: Stage | str, at: float | None = None, **data: Any) -> None:
        self.stages.append(StageEvent(Stage(stage), time.monotonic() if at is None else at, data))

    def at(self, stage: Stage | str) -> float | None:
        for event in self.stages:
            if event.stage == stage:
                return event.at
        return None

    def data(self, stage: Stage | str) -> dict[str, Any]:
        for event in self.stages:
            if event.stage == stage:
                return event.data
        return {}

    def ms(self, stage: Stage | str) -> float | None:
        t = self.at(stage)
        return None if t is None else (t - self.started) * 1000

    def summary(self) -> str:
        return " ".join(f"{e.stage}={(e.at - self.started) * 1000:.0f}ms" for e in self.stages)

    def log_line(self) -> str:
        """``turn <device>: text='…' intent=… <slots> asr=…ms first_audio=…ms`` (plus the outcome if not spoken)."""
        parts = [f"turn {self.device_id}:"]
        text = self.data(Stage.ASR).get("text")
        if text is None:
            text = self.data(Stage.INTENT).get("text", "")
        text = str(text).replace("\n", " ").replace("'", "’")
        if len(text) > MAX_LOGGED_TEXT:
            text = text[:MAX_LOGGED_TEXT] + "…"
        parts.append(f"text='{text}'")
        intent = self.data(Stage.INTENT)
        if intent:
            parts.append(f"intent={intent.get('intent')}")
            args = intent.get("args") or {}
            parts.extend(f"{k}={v}" for k, v in sorted(args.items()))
            if intent.get("confirm"):
                parts.append("confirm=yes")
            if intent.get("source"):
                parts.append(f"via={intent['source']}")
        for stage in (Stage.ENDPOINT, Stage.ASR, Stage.INTENT, Stage.FIRST_AUDIO):
            if (ms := self.ms(stage)) is not None:
                parts.append(f"{stage}={ms:.0f}ms")
        for outcome in (Stage.EMPTY, Stage.CANCELLED, Stage.ERROR):
            if self.at(outcome) is not None:
                parts.append(f"outcome={outcome}")
        return " ".join(parts)
