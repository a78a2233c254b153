"""What the Today page shows for one (owner, day), derived from the pipeline's findings.json.

Pure functions over the stored report: findings by kind, errors per hour per workload (each ERROR template's
hourly counts split over its workloads by their share), top and new templates, audit changes in time order, and
incidents with the findings (evidence lines) they were traced from. Log text is passed on as data, never markup.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

HOURS = 24
TOP_TEMPLATES = 10
MAX_EVIDENCE = 6


@dataclass(frozen=True)
class IncidentView:
    rank: int
    namespace: str
    workload: str
    severity: str
    impact: int
    cause: str
    cause_zh: str
    fix_zh: str
    found: bool
    at: float
    chain: list[dict[str, Any]]  # the traced findings, in time order: kind, category, title, ts
    evidence: list[str]  # example lines of those findings (untrusted text)


@dataclass(frozen=True)
class DayView:
    owner: str
    day: str
    summary: str | None
    no_logs: bool
    analyst: str
    findings_by_kind: dict[str, dict[str, int]]  # kind → severity → count
    errors_by_hour: dict[str, list[int]]  # workload → 24 counts
    top_templates: list[dict[str, Any]]
    new_templates: list[dict[str, Any]]
    audit_changes: list[dict[str, Any]]
    incidents: list[IncidentView]
    stage_seconds: dict[str, float]
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hours(value: object) -> list[int] | None:
    if isinstance(value, list) and len(value) == HOURS and all(isinstance(v, int | float) for v in value):
        return [int(v) for v in value]
    return None


def errors_by_hour(findings: list[dict[str, Any]]) -> dict[str, list[int]]:
    out: dict[str, list[float]] = defaultdict(lambda: [0.0] * HOURS)
    for f in findings:
        ev = f.get("evidence") or {}
        if f.get("category") != "error_template" or ev.get("level") not in ("ERROR", "FATAL", "CRITICAL"):
            continue
        hours = _hours(ev.get("hours"))
        by_workload = ev.get("by_workload") or {}
        if hours is None or not isinstance(by_workload, dict) or not by_workload:
            continue
        total = sum(v for v in by_workload.values() if isinstance(v, int | float)) or 1
        for workload, n in by_workload.items():
            if not isinstance(n, int | float):
                continue
            row = out[str(workload)]
            for h, v in enumerate(hours):
                row[h] += v * n / total
    ranked = sorted(out.items(), key=lambda kv: -sum(kv[1]))
    return {w: [round(v) for v in row] for w, row in ranked}


def _template_row(t: dict[str, Any]) -> dict[str, Any]:
    return {
        "template": str(t.get("template", "")),
        "count": int(t.get("count", 0) or 0),
        "level": str(t.get("level", "")),
        "workload": str(t.get("workload", "")),
        "kind": str(t.get("kind", "")),
    }


def _ts(entry: dict[str, Any]) -> float:
    return float(entry["ts"])


def build_day_view(owner: str, day: str, summary: str | None, data: dict[str, Any]) -> DayView:
    findings = [f for f in data.get("findings", []) if isinstance(f, dict)]
    by_id = {str(f.get("id")): f for f in findings}
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for f in findings:
        by_kind[str(f.get("kind", "?"))][str(f.get("severity", "?"))] += 1
    templates = [t for t in data.get("templates", []) if isinstance(t, dict)]
    top = sorted(templates, key=lambda t: -int(t.get("count", 0) or 0))[:TOP_TEMPLATES]
    new = [
        {
            "template": str(f.get("template") or f.get("title", "")),
            "count": int(f.get("count", 0) or 0),
            "level": "",
            "workload": str(f.get("workload", "")),
            "kind": str(f.get("kind", "")),
        }
        for f in findings
        if f.get("category") == "new_template"
    ]
    audit: list[dict[str, Any]] = sorted(
        (
            {
                "ts": float(e.get("ts", 0) or 0),
                "what": str(e.get("what", "")),
                "user": str(e.get("user", "")),
                "workload": str(e.get("workload", "")),
            }
            for e in data.get("timeline", [])
            if isinstance(e, dict) and e.get("kind") == "audit"
        ),
        key=_ts,
    )
    incidents = []
    for i in data.get("incidents", []):
        if not isinstance(i, dict):
            continue
        chain_src = [by_id[x] for x in i.get("finding_ids", []) if x in by_id]
        chain_src.sort(key=lambda f: float(f.get("first_ts", 0) or 0))
        evidence: list[str] = []
        for f in chain_src:
            evidence.extend(str(x) for x in (f.get("examples") or [])[:2])
        incidents.append(
            IncidentView(
                rank=int(i.get("rank", 0) or 0),
                namespace=str(i.get("namespace", "")),
                workload=str(i.get("workload", "")),
                severity=str(i.get("severity", "")),
                impact=int(i.get("impact", 0) or 0),
                cause=str(i.get("cause", "")),
                cause_zh=str(i.get("cause_zh", "")),
                fix_zh=str(i.get("fix_zh", "")),
                found=bool(i.get("found", False)),
                at=float(i.get("at", 0) or 0),
                chain=[
                    {
                        "kind": str(f.get("kind", "")),
                        "category": str(f.get("category", "")),
                        "title": str(f.get("title", "")),
                        "summary_zh": str(f.get("summary_zh", "")),
                        "ts": float(f.get("first_ts", 0) or 0),
                    }
                    for f in chain_src
                ],
                evidence=evidence[:MAX_EVIDENCE],
            )
        )
    analysis = data.get("analysis")
    analyst = str(
        data.get("analyst") or (analysis.get("analyst") if isinstance(analysis, dict) else "") or ""
    )
    stats = {
        str(k): {
            "lines": v.get("lines", 0),
            "records": v.get("records", 0),
            "bad_lines": v.get("bad_lines", 0),
            "error": v.get("error"),
        }
        for k, v in (data.get("stats") or {}).items()
        if isinstance(v, dict)
    }
    return DayView(
        owner=owner,
        day=day,
        summary=summary,
        no_logs=bool(data.get("no_logs", False)),
        analyst=analyst,
        findings_by_kind={k: dict(v) for k, v in sorted(by_kind.items())},
        errors_by_hour=errors_by_hour(findings),
        top_templates=[_template_row(t) for t in top],
        new_templates=new,
        audit_changes=audit,
        incidents=sorted(incidents, key=lambda x: x.rank),
        stage_seconds={str(k): float(v) for k, v in (data.get("stage_seconds") or {}).items()},
        stats=stats,
    )
