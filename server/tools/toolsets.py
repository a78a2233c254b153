"""Every toolset, in the order tools are listed to clients and models."""

from __future__ import annotations

from server.tools import alerts, device, logs, system
from server.tools.base import DEFAULT_BUDGET_TOKENS, ToolRegistry, Toolset

TOOLSETS: tuple[Toolset, ...] = (logs.TOOLSET, alerts.TOOLSET, device.TOOLSET, system.TOOLSET)


def build_registry(budget_tokens: int = DEFAULT_BUDGET_TOKENS) -> ToolRegistry:
    return ToolRegistry(list(TOOLSETS), budget_tokens=budget_tokens)
