"""Workload names the owner's reports mention: the only names the intent layer listens for."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from server.dialogue.reports import ReportStore

MAX_WORKLOADS = 200


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


def report_day(today: date, last_day: str | None = None) -> str:
    """The day whose findings name the workloads: the day last talked about, else yesterday."""
    return last_day or (today - timedelta(days=1)).isoformat()


def _mentions(reports: ReportStore, owner: str, day: str) -> Counter[str]:
    try:
        return workload_mentions(reports.findings(owner, day))
    except Exception:  # a damaged report must not break understanding or listening
        return Counter()


def known_workloads(
    reports: ReportStore, owner: str, today: date, last_day: str | None = None
) -> tuple[str, ...]:
    """Workloads in the owner's most recent findings (the day last talked about, else yesterday)."""
    return tuple(sorted(_mentions(reports, owner, report_day(today, last_day))))


def names_to_listen_for(reports: ReportStore, owner: str, day: str) -> tuple[str, ...]:
    """The owner's workloads on ``day``, the most mentioned first (the recognizer's prompt takes only a few)."""
    mentions = _mentions(reports, owner, day)
    return tuple(name for name, _ in sorted(mentions.items(), key=lambda kv: (-kv[1], kv[0])))
