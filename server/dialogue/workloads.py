"""Workload names the owner's reports mention: the only names the intent layer listens for."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from server.dialogue.reports import ReportStore

MAX_WORKLOADS = 200


def workloads_in(report: Any, found: set[str] | None = None, depth: int = 0) -> set[str]:
    """Every string under a ``workload`` key of a findings report (walk bounded in depth and size)."""
    found = set() if found is None else found
    if depth > 6 or len(found) >= MAX_WORKLOADS:
        return found
    if isinstance(report, dict):
        for key, value in report.items():
            if key == "workload" and isinstance(value, str) and 2 < len(value) <= 80:
                found.add(value)
            else:
                workloads_in(value, found, depth + 1)
    elif isinstance(report, list):
        for item in report[:500]:
            workloads_in(item, found, depth + 1)
    return found


def known_workloads(
    reports: ReportStore, owner: str, today: date, last_day: str | None = None
) -> tuple[str, ...]:
    """Workloads in the owner's most recent findings (the day last talked about, else yesterday)."""
    day = last_day or (today - timedelta(days=1)).isoformat()
    try:
        report = reports.findings(owner, day)
    except Exception:  # a damaged report must not break understanding
        return ()
    return tuple(sorted(workloads_in(report)))
