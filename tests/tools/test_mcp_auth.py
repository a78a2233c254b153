"""MCP over streamable HTTP behind the trust boundary: a token is needed, the caller's identity comes from it
(a decline is never recorded in another person's name), nobody approves over HTTP, slow clients are cut off."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client

from server.cases.fsm import State
from server.tools.context import ToolContext
from server.tools.mcp_server import McpHttpServer, start_mcp_http
from tests.cases.helpers import case_at_gate
from tests.conftest import make_settings
from tests.http.slow import slowloris
from tests.http_auth import ADMIN_TOKEN, OPERATOR_TOKEN, api_policy


@pytest.fixture
async def mcp_http(tmp_path: Path, services) -> AsyncIterator[tuple[McpHttpServer, object]]:
    _, cases, alerts = services
    settings = make_settings(tmp_path, http_header_timeout_s=1.0)
    ctx = ToolContext.from_settings(settings, cases=cases, alerts=alerts)
    handle = await start_mcp_http(ctx, host="127.0.0.1", port=0, policy=api_policy())
    try:
        yield handle, cases
    finally:
        await handle.stop()


INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"},
    },
}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


async def test_mcp_http_needs_a_token_and_refuses_foreign_origins(mcp_http) -> None:
    handle, _ = mcp_http
    async with httpx2.AsyncClient() as http:
        r = await http.post(handle.url, headers=JSON_HEADERS, content=json.dumps(INIT))
        assert r.status_code == 401
        r = await http.post(
            handle.url, headers={**JSON_HEADERS, "Authorization": "Bearer nope"}, content=json.dumps(INIT)
        )
        assert r.status_code == 401
        r = await http.post(
            handle.url,
            headers={
                **JSON_HEADERS,
                "Authorization": f"Bearer {ADMIN_TOKEN}",
                "Origin": "http://evil.example",
            },
            content=json.dumps(INIT),
        )
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
        r = await http.post(
            handle.url,
            headers={**JSON_HEADERS, "Authorization": f"Bearer {ADMIN_TOKEN}"},
            content=json.dumps(INIT),
        )
        assert r.status_code == 200


async def test_decline_is_recorded_as_the_authenticated_caller_and_approval_is_refused(mcp_http) -> None:
    handle, cases = mcp_http
    case = case_at_gate(cases)
    async with Client(handle.transport(OPERATOR_TOKEN)) as client:
        approve = await client.call_tool(
            "confirm_action",
            {"case_id": case.id, "decision": "approve", "approver": "owner:alice", "challenge_id": "x"},
        )
        assert approve.is_error and "voiceprint" in approve.content[0].text
        assert cases.get_case(case.id).status is State.WAIT_GATE
        deny = await client.call_tool(
            "confirm_action",
            {"case_id": case.id, "decision": "deny", "approver": "owner:alice", "reason": "probe"},
        )
        assert not deny.is_error, deny.content[0].text
    last = cases.timeline(case.id)[-1]
    assert last.event == "deny" and last.actor == "operator:token"  # not "owner:alice"
    assert cases.get_case(case.id).status is State.PARKED


async def test_mcp_http_slowloris_is_cut_off(mcp_http) -> None:
    handle, _ = mcp_http
    request = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    closed = await slowloris(handle.port, request)
    assert closed is not None and closed < 6.0, closed
    async with Client(handle.transport()) as client:  # and it keeps serving
        assert (await client.list_tools()).tools
