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
class DayIncident:
    """One incident of the day, traced to its cause (or not) by the tracer over the day's evidence."""

    rank: int  # 1 = most impact
    namespace: str
    workload: str  # the most affected workload (speakable name, never a pod hash)
    severity: str
    impact: int  # errors + warning events attributed to it
    cause: str  # CauseKind value ("none" when not traced)
    cause_object: str = ""
    actor: str = ""  # speakable ("ci-bot 服务账号")
    cause_zh: str = ""  # the tracer's full sentence
    short_zh: str = ""  # the few words spoken in the summary
    terse_zh: str = ""  # the same without who did it (when the day has many incidents)
    fix_zh: str = ""
    found: bool = False
    affected: list[str] = field(default_factory=list)  # other workloads with the same cause
    finding_ids: list[str] = field(default_factory=list)
    at: float = 0.0


@dataclass
class DayReport:
    owner: str
    day: str  # ISO date, the log day (in the configured timezone)
    generated_at: float
    stats: dict[str, KindStats] = field(default_factory=dict)  # keyed by LogKind value
    findings: list[Finding] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # notable events in time order
    stage_seconds: dict[str, float] = field(default_factory=dict)
    incidents: list[DayIncident] = field(default_factory=list)
    no_logs: bool = False  # not one line was read for the day: never an all-clear
    looked_at: list[str] = field(default_factory=list)  # where the logs were looked for (prefixes / paths)

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "day": self.day,
            "generated_at": self.generated_at,
            "stats": {k: {**asdict(v), "kind": str(v.kind)} for k, v in self.stats.items()},
            "findings": [f.to_dict() for f in self.findings],
            "timeline": self.timeline,
            "stage_seconds": self.stage_seconds,
            "incidents": [asdict(i) for i in self.incidents],
            "no_logs": self.no_logs,
            "looked_at": self.looked_at,
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
            incidents=[DayIncident(**i) for i in d.get("incidents", [])],
            no_logs=bool(d.get("no_logs", False)),
            looked_at=list(d.get("looked_at", [])),
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
