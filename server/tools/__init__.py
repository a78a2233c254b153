"""MCP tool layer: tools declared as data in toolsets, one registry, one MCP server on three transports.

ctx = ToolContext.from_settings(settings, cases=..., alerts=...)
registry = build_registry()
outcome = await registry.call(ctx, "search_logs", {"query": "镜像拉取失败"})
server = build_mcp_server(ctx)           # in-process / stdio
handle = await start_mcp_http(ctx)       # streamable HTTP at /mcp; await handle.stop()
"""

from server.tools.base import Caller, ToolError, ToolOutcome, ToolRegistry, Toolset, ToolSpec
from server.tools.context import ApprovalGate, ToolContext
from server.tools.mcp_server import McpHttpServer, build_mcp_server, run_stdio, start_mcp_http, stop_mcp_http
from server.tools.toolsets import TOOLSETS, build_registry

__all__ = [
    "TOOLSETS",
    "ApprovalGate",
    "Caller",
    "McpHttpServer",
    "ToolContext",
    "ToolError",
    "ToolOutcome",
    "ToolRegistry",
    "ToolSpec",
    "Toolset",
    "build_mcp_server",
    "build_registry",
    "run_stdio",
    "start_mcp_http",
    "stop_mcp_http",
]
