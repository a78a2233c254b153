"""Structured findings produced by the three log agents and consumed by the index, analyst and tracer."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from agents.records import LogKind

SEVERITIES = ("critical", "high", "medium", "low", "info")


@dataclass
class Finding:
    kind: LogKind
    category: (
        str  # error_template | new_template | spike | k8s_warning | risky_audit | change_before_errors | …
    )
    severity: str  # one of SEVERITIES
    title: str  # short English title, e.g. "BackOff pulling image for Deployment shop/order-api"
    summary_zh: str  # one speakable Chinese sentence
    count: int = 0
    namespace: str = ""
    workload: str = ""
    object: str = ""
    user: str = ""
    template: str = ""
    first_ts: float = 0.0
    last_ts: float = 0.0
    examples: list[str] = field(default_factory=list)  # a few raw lines (untrusted)
    evidence: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            key = "|".join(
                (
                    str(self.kind),
                    self.category,
                    self.namespace,
                    self.workload,
                    self.object,
                    self.template,
                    self.title,
                )
            )
            self.id = hashlib.sha1(key.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = str(self.kind)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        d = dict(d)
        d["kind"] = LogKind(d["kind"])
        return cls(**d)
