"""Typed, timestamped stage events of one voice turn (as Home Assistant's assist pipeline does).

The same events feed the log line of each turn, the live console and the latency benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TurnListener = Callable[["TurnTrace"], None]


@dataclass
class TurnTrace:
    device_id: str
    started: float = field(default_factory=time.monotonic)  # end of user speech (or text received)
    stages: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)

    def mark(self, stage: str, **data: Any) -> None:
        self.stages.append((stage, time.monotonic(), data))

    def at(self, stage: str) -> float | None:
        for name, t, _ in self.stages:
            if name == stage:
                return t
        return None

    def ms(self, stage: str) -> float | None:
        t = self.at(stage)
        return None if t is None else (t - self.started) * 1000

    def summary(self) -> str:
        parts = [f"{name}={(t - self.started) * 1000:.0f}ms" for name, t, _ in self.stages]
        return " ".join(parts)
