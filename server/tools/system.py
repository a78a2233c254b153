"""Toolset "system": is the service healthy, and which parts run on a fallback."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from server.tools.base import Caller, Toolset, ToolSpec
from server.tools.common import obj
from server.tools.context import ToolContext


def _health(ctx: ToolContext, owner: str) -> dict[str, Any]:
    days = ctx.reports.days(owner)
    out: dict[str, Any] = {
        "status": "ok",
        "uptime_s": round(time.time() - ctx.started_at),
        "devices_online": [d.device_id for d in ctx.registry.online()],
        "reports": {"owner": owner, "latest_day": days[0] if days else None, "days": len(days)},
        "llm": "configured" if ctx.settings.llm_enabled else "not configured (deterministic answers)",
        "vector_index": "open" if ctx.index is not None else "not open (keyword search over findings)",
        "alerts": "available" if ctx.alerts is not None else "not available",
        "cases": "available" if ctx.cases is not None else "not available",
    }
    problems = []
    if not days:
        problems.append("no log report yet")
    if ctx.alerts is not None:
        try:
            out["firing_alerts"] = len(ctx.alerts.list_alerts(owner=owner, status="firing", limit=500))
        except Exception as exc:
            problems.append(f"alert store: {type(exc).__name__}")
    if ctx.cases is not None:
        try:
            open_cases = [
                c for c in ctx.cases.list_cases(owner=owner, limit=200) if str(c.status) != "CLOSED"
            ]
            out["open_cases"] = len(open_cases)
        except Exception as exc:
            problems.append(f"case store: {type(exc).__name__}")
    if problems:
        out["status"] = "degraded"
        out["problems"] = problems
    return out


async def system_health(ctx: ToolContext, args: dict[str, Any], caller: Caller) -> dict[str, Any]:
    owner = caller.owner or ctx.settings.default_owner
    return await asyncio.to_thread(_health, ctx, owner)


TOOLSET = Toolset(
    "system",
    "Service health.",
    (
        ToolSpec(
            "system_health",
            "Health of xiaozhi-ops: uptime, connected devices, newest log report, LLM/index/alerts/cases "
            "availability, firing alerts and open cases.",
            obj({}),
            system_health,
            "system",
        ),
    ),
)
