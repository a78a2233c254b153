"""Toolset "logs": the day reports (summary, findings, templates) and search over them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from server.tools.base import Caller, ToolError, Toolset, ToolSpec
from server.tools.common import (
    DAY,
    KIND,
    OWNER,
    UNTRUSTED_NOTE,
    clean,
    compact_finding,
    load_report,
    local_time,
    obj,
    owner_of,
    parse_when,
    ranked,
)
from server.tools.context import ToolContext
from server.tools.search import keyword_search

log = logging.getLogger(__name__)

INDEX_TIMEOUT_S = 3.0


def _stats(report: dict[str, Any], kind: str) -> dict[str, Any]:
    s = (report.get("stats") or {}).get(kind) or {}
    return {k: s.get(k) for k in ("lines", "records", "bad_lines", "levels", "templates", "error") if k in s}


async def get_log_summary(ctx: ToolContext, args: dict[str, Any], caller: Caller) -> dict[str, Any]:
    owner = owner_of(ctx, args)
    day = args.get("day") or ctx.default_day(owner)
    summary = ctx.reports.summary(owner, day)
    report = ctx.reports.findings(owner, day)
    if summary is None and report is None:
        load_report(ctx, owner, day)  # raises with the list of days that do have reports
    kind = args.get("kind")
    out: dict[str, Any] = {"owner": owner, "day": day}
    if summary is not None and not kind:
        out["summary"] = summary.text
    if report is not None:
        kinds = [kind] if kind else ["business", "event", "audit"]
        findings = report.get("findings") or []
        out["stats"] = {k: _stats(report, k) for k in kinds}
        out["findings_by_severity"] = {
            sev: n
            for sev in ("critical", "high", "medium", "low", "info")
            if (
                n := sum(
                    1 for f in findings if f.get("severity") == sev and (not kind or f.get("kind") == kind)
                )
            )
        }
        top = ranked([f for f in findings if not kind or f.get("kind") == kind])[:5]
        out["top_findings"] = [compact_finding(f, ctx.tz) for f in top]
        out["note"] = UNTRUSTED_NOTE
    return out


async def analyze_log_type(ctx: ToolContext, args: dict[str, Any], caller: Caller) -> dict[str, Any]:
    owner = owner_of(ctx, args)
    day = args.get("day") or ctx.default_day(owner)
    kind = args["kind"]
    report = load_report(ctx, owner, day)
    mine = ranked([f for f in report.get("findings") or [] if f.get("kind") == kind])
    limit = int(args.get("limit") or 8)
    templates = [
        {
            "template": clean(t.get("template"), 200),
            "level": t.get("level", ""),
            "count": int(t.get("count") or 0),
            "workload": t.get("workload", ""),
            "first_seen": local_time(t.get("first_ts"), ctx.tz),
        }
        for t in report.get("templates") or []
        if t.get("kind") == kind and str(t.get("level", "")).upper() in ("ERROR", "FATAL", "WARN")
    ][:5]
    return {
        "owner": owner,
        "day": day,
        "kind": kind,
        "stats": _stats(report, kind),
        "finding_count": len(mine),
        "findings": [compact_finding(f, ctx.tz) for f in mine[:limit]],
        "notable_templates": templates,
        "note": UNTRUSTED_NOTE,
    }


async def search_logs(ctx: ToolContext, args: dict[str, Any], caller: Caller) -> dict[str, Any]:
    owner = owner_of(ctx, args)
    day = args.get("day") or ctx.default_day(owner)
    query, kind, limit = args["query"], args.get("kind"), int(args.get("limit") or 5)
    since = parse_when(args.get("since"), day, ctx.tz)
    until = parse_when(args.get("until"), day, ctx.tz)
    if since is not None and until is not None and since > until:
        raise ToolError("'since' is after 'until'")
    report = ctx.reports.findings(owner, day)
    hits: list[dict[str, Any]] = []
    engine = "keyword"
    index = await asyncio.to_thread(ctx.get_index)
    if index is not None:
        try:
            raw = await asyncio.wait_for(
                asyncio.to_thread(index.search, query, limit * 3, kind, owner, day), INDEX_TIMEOUT_S
            )
            engine = "vector"
            hits = [h for h in raw if _in_range(h, since, until)][:limit]
        except Exception as exc:  # a broken or slow index must not fail the question
            log.warning("vector search failed, using keyword search: %s", exc)
    if engine == "keyword":
        if report is None:
            load_report(ctx, owner, day)
        hits = keyword_search(report or {}, query, kind=kind, since=since, until=until, limit=limit)
    return {
        "owner": owner,
        "day": day,
        "query": query,
        "engine": engine,
        "hits": [_compact_hit(h, ctx) for h in hits],
        "note": UNTRUSTED_NOTE,
    }


def _in_range(hit: dict[str, Any], since: float | None, until: float | None) -> bool:
    first = float(hit.get("first_ts") or 0)
    last = float(hit.get("last_ts") or first)
    return not first or not ((since is not None and last < since) or (until is not None and first > until))


def _compact_hit(h: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    out = {
        "source": h.get("source", ""),
        "kind": h.get("kind", ""),
        "text": clean(h.get("summary_zh") or h.get("text") or h.get("template") or h.get("title"), 240),
        "score": h.get("score"),
    }
    if h.get("source") == "finding" and h.get("title"):
        out["title"] = clean(h["title"], 200)
    for key in ("severity", "level", "count", "namespace", "workload", "user", "id"):
        if h.get(key):
            out[key] = h[key] if not isinstance(h[key], str) else clean(h[key], 80)
    if h.get("first_ts"):
        out["first_seen"] = local_time(h["first_ts"], ctx.tz)
    return out


async def correlate_logs(ctx: ToolContext, args: dict[str, Any], caller: Caller) -> dict[str, Any]:
    """Causal chains: an audit change, then k8s warnings, then business errors on the same workload."""
    owner = owner_of(ctx, args)
    day = args.get("day") or ctx.default_day(owner)
    window_s = int(args.get("window_minutes") or 60) * 60
    report = load_report(ctx, owner, day)
    findings = report.get("findings") or []
    chains = ranked([f for f in findings if f.get("category") == "change_before_errors"])
    chained = {(f.get("namespace"), f.get("workload")) for f in chains}
    # Problems without a recorded chain: look for any audit change on the same workload shortly before.
    changes = [f for f in findings if f.get("kind") == "audit" and f.get("user") and f.get("workload")]
    loose = []
    for f in ranked([f for f in findings if f.get("kind") in ("business", "event")]):
        key = (f.get("namespace"), f.get("workload"))
        if not f.get("workload") or key in chained or not f.get("first_ts"):
            continue
        near = [
            c
            for c in changes
            if (c.get("namespace"), c.get("workload")) == key
            and 0 <= f["first_ts"] - float(c.get("first_ts") or 0) <= window_s
        ]
        if near:
            loose.append(
                {
                    "problem": compact_finding(f, ctx.tz),
                    "changes_before": [compact_finding(c, ctx.tz) for c in near[:2]],
                }
            )
    unexplained = [
        compact_finding(f, ctx.tz)
        for f in ranked(findings)
        if f.get("severity") in ("critical", "high")
        and f.get("category") != "change_before_errors"
        and (f.get("namespace"), f.get("workload")) not in chained
    ][:4]
    return {
        "owner": owner,
        "day": day,
        "window_minutes": window_s // 60,
        "chains": [compact_finding(f, ctx.tz) for f in chains[:5]],
        "changes_near_problems": loose[:4],
        "other_serious_findings": unexplained,
        "note": UNTRUSTED_NOTE,
    }


TOOLSET = Toolset(
    "logs",
    "Nightly analysis of business, Kubernetes event and audit logs: summaries, findings, search.",
    (
        ToolSpec(
            "get_log_summary",
            "Spoken summary and per-kind statistics of one day's log analysis, with the top findings. "
            "Without `day` the newest report is used.",
            obj({"owner": OWNER, "day": DAY, "kind": KIND}),
            get_log_summary,
            "logs",
            owner_scoped=True,
        ),
        ToolSpec(
            "analyze_log_type",
            "Findings of one log kind (business | event | audit) for a day, most severe first, with the "
            "notable error/warning templates and line counts.",
            obj(
                {
                    "kind": KIND,
                    "day": DAY,
                    "owner": OWNER,
                    "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                },
                ("kind",),
            ),
            analyze_log_type,
            "logs",
            owner_scoped=True,
        ),
        ToolSpec(
            "search_logs",
            "Search a day's log templates and findings by meaning (Chinese or English question). Optional "
            "kind filter and time range (`since`/`until` as HH:MM local time or ISO datetime).",
            obj(
                {
                    "query": {"type": "string", "minLength": 1, "maxLength": 300},
                    "kind": KIND,
                    "day": DAY,
                    "since": {"type": "string", "maxLength": 40},
                    "until": {"type": "string", "maxLength": 40},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                    "owner": OWNER,
                },
                ("query",),
            ),
            search_logs,
            "logs",
            owner_scoped=True,
        ),
        ToolSpec(
            "correlate_logs",
            "Correlate the three logs for a day: audit changes followed by k8s warnings and business errors "
            "on the same workload (causal chains), changes within `window_minutes` before other problems, "
            "and serious findings no change explains.",
            obj(
                {
                    "day": DAY,
                    "window_minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
                    "owner": OWNER,
                }
            ),
            correlate_logs,
            "logs",
            owner_scoped=True,
        ),
    ),
)
