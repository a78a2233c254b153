"""Workload names the owner's reports mention: the only names the intent layer listens for."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from server.dialogue.reports import ReportStore

MAX_WORKLOADS = 200


def workloads_in(report: Any) -> set[str]:
    """Every string under a ``workload`` key of a findings report (walk bounded in depth and size)."""
    return set(workload_mentions(report))


def workload_mentions(report: Any, found: Counter[str] | None = None, depth: int = 0) -> Counter[str]:
    """How often each workload is named under a ``workload`` key of a findings report (bounded walk)."""
    found = Counter() if found is None else found
    if depth > 6 or len(found) >= MAX_WORKLOADS:
        return found
    if isinstance(report, dict):
        for key, value in report.items():
            if key == "workload" and isinstance(value, str) and 2 < len(value) <= 80:
                found[value] += 1
            else:
                workload_mentions(value, found, depth + 1)
    elif isinstance(report, list):
        for item in report[:500]:
            workload_mentions(item, found, depth + 1)
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


def names_to_listen_for(
    reports: ReportStore, owner: str, today: date, last_day: str | None = None
) -> tuple[str, ...]:
    """The owner's workloads, the most mentioned first (the recognizer's prompt takes only a few)."""
    day = last_day or (today - timedelta(days=1)).isoformat()
    try:
        mentions = workload_mentions(reports.findings(owner, day))
    except Exception:  # a damaged report must not break listening
        return ()
    return tuple(name for name, _ in sorted(mentions.items(), key=lambda kv: (-kv[1], kv[0])))
