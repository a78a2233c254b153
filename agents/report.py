"""The day report: what the three log agents found for one (owner, day), and the analyst contract."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from agents.findings import Finding
from agents.records import LogKind


@dataclass
class KindStats:
    kind: LogKind
    lines: int = 0
    records: int = 0
    bad_lines: int = 0
    bad_samples: list[str] = field(default_factory=list)  # a few rejected lines, truncated
    levels: dict[str, int] = field(default_factory=dict)
    templates: int = 0
    error: str | None = None  # set when this kind failed; the other kinds still complete


@dataclass
class DayReport:
    owner: str
    day: str  # ISO date, the log day (in the configured timezone)
    generated_at: float
    stats: dict[str, KindStats] = field(default_factory=dict)  # keyed by LogKind value
    findings: list[Finding] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # notable events in time order
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "day": self.day,
            "generated_at": self.generated_at,
            "stats": {k: {**asdict(v), "kind": str(v.kind)} for k, v in self.stats.items()},
            "findings": [f.to_dict() for f in self.findings],
            "timeline": self.timeline,
            "stage_seconds": self.stage_seconds,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DayReport:
        stats = {k: KindStats(**{**v, "kind": LogKind(v["kind"])}) for k, v in d.get("stats", {}).items()}
        return cls(
            owner=d["owner"],
            day=d["day"],
            generated_at=d.get("generated_at", 0.0),
            stats=stats,
            findings=[Finding.from_dict(f) for f in d.get("findings", [])],
            timeline=d.get("timeline", []),
            stage_seconds=d.get("stage_seconds", {}),
        )


@dataclass
class Analysis:
    analysis_md: str  # llm_analysis.md: conclusions with evidence
    summary: str  # llm_summary.txt: speakable Chinese, ends with the follow-up question
    analyst: str  # "deterministic" or "llm:<model>"
    extra: dict[str, Any] = field(default_factory=dict)


class SearchIndex(Protocol):
    """What an analyst may ask of the vector index (implemented in agents.index)."""

    def search(
        self, query: str, k: int = 5, kind: str | None = None, owner: str | None = None
    ) -> list[dict[str, Any]]: ...


class Analyst(Protocol):
    async def analyze(self, report: DayReport, index: SearchIndex | None = None) -> Analysis: ...
