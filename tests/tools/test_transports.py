"""The MCP server over both wire transports, driven by the SDK's own client."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
from mcp import Client, StdioServerParameters

from server.tools.mcp_server import start_mcp_http
from tests.paths import REPO
from tests.tools.helpers import DAY, copy_day

EXPECTED_TOOLS = {
    "get_log_summary",
    "analyze_log_type",
    "search_logs",
    "correlate_logs",
    "list_alerts",
    "trace_alert",
    "get_case",
    "propose_action",
    "confirm_action",
    "get_device_status",
    "set_volume",
    "system_health",
}


async def exercise(client: Client, day) -> None:
    """Listing, a valid call, an invalid call and an unknown tool over one connection."""
    listed = await client.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == EXPECTED_TOOLS
    assert tools["search_logs"].input_schema["required"] == ["query"]
    assert tools["get_case"].annotations.read_only_hint is True
    assert tools["confirm_action"].annotations.read_only_hint is False

    out = await client.call_tool("analyze_log_type", {"kind": "audit", "day": DAY})
    assert not out.is_error
    data = json.loads(out.content[0].text)
    assert data["findings"][0]["workload"] == day.incident("image_pull_failure")["workload"]
    assert out.structured_content == data

    bad = await client.call_tool("analyze_log_type", {"kind": "metrics"})
    assert bad.is_error and "invalid arguments" in bad.content[0].text
    unknown = await client.call_tool("drop_database", {})
    assert unknown.is_error and "unknown tool" in unknown.content[0].text
    health = await client.call_tool("system_health", {})
    assert json.loads(health.content[0].text)["reports"]["latest_day"] == DAY


async def test_stdio_transport_subprocess(tmp_path: Path, day) -> None:
    results = tmp_path / "results"
    copy_day(day.results, results)
    params = StdioServerParameters(
        command=str(REPO / ".venv" / "bin" / "xiaozhi-ops"),
        args=["mcp"],
        env={"XOPS_DATA_DIR": str(tmp_path / "data"), "XOPS_RESULTS_DIR": str(results)},
        cwd=str(tmp_path),  # no .env from the repo
    )
    async with Client(params, read_timeout_seconds=60) as client:
        await exercise(client, day)
        # the database-backed tools are there too (empty database)
        alerts = await client.call_tool("list_alerts", {})
        assert not alerts.is_error and json.loads(alerts.content[0].text)["alerts"] == []
        device = await client.call_tool("get_device_status", {})
        assert device.is_error and "no device" in device.content[0].text


async def test_streamable_http_transport(ctx, day) -> None:
    handle = await start_mcp_http(ctx, host="127.0.0.1", port=0)
    try:
        assert handle.port > 0 and handle.url.endswith("/mcp")
        async with Client(handle.transport()) as client:
            await exercise(client, day)
        # a second client session on the same server
        async with Client(handle.transport()) as client:
            assert (await client.call_tool("get_log_summary", {"day": DAY})).is_error is False
        # DNS-rebinding protection of a loopback bind: a foreign Host header is refused
        async with httpx2.AsyncClient() as http:
            r = await http.post(
                handle.url,
                headers={
                    "Host": "evil.example",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
                content=b"{}",
            )
            assert r.status_code in (403, 421)
    finally:
        await handle.stop()
    assert handle.task.done()
