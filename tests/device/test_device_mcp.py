"""The virtual device's MCP server behaves like the firmware's."""

import json

from firmware_bridge.device_mcp import MAX_TOOLS_PAYLOAD, DeviceMcpServer, Property, Tool


def rpc(method: str, params: dict | None = None, req_id: object = 1) -> dict:
    msg: dict = {"jsonrpc": "2.0", "id": req_id, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def test_initialize_reports_server_info_and_keeps_vision() -> None:
    server = DeviceMcpServer("board-x", "2.4.2")
    vision = {"url": "http://h/vision", "token": "t"}
    reply = server.handle(rpc("initialize", {"capabilities": {"vision": vision}}, 7))
    assert reply == {
        "jsonrpc": "2.0",
        "id": 7,
        "result": {
            "protocolVersion": "2024-11-05",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "board-x", "version": "2.4.2"},
        },
    }
    assert server.vision == vision


def test_set_volume_checks_range_and_errors_have_no_code() -> None:
    server = DeviceMcpServer()
    ok = server.handle(
        rpc("tools/call", {"name": "self.audio_speaker.set_volume", "arguments": {"volume": 35}})
    )
    assert ok["result"] == {"content": [{"type": "text", "text": "true"}], "isError": False}
    assert server.state.volume == 35
    too_loud = server.handle(
        rpc("tools/call", {"name": "self.audio_speaker.set_volume", "arguments": {"volume": 101}}, 2)
    )
    assert too_loud == {"jsonrpc": "2.0", "id": 2, "error": {"message": "Value exceeds maximum allowed: 100"}}
    as_string = server.handle(
        rpc("tools/call", {"name": "self.audio_speaker.set_volume", "arguments": {"volume": "50"}}, 3)
    )
    assert as_string["error"] == {"message": "Missing valid argument: volume"}
    unknown = server.handle(rpc("tools/call", {"name": "self.fly", "arguments": {}}, 4))
    assert unknown["error"] == {"message": "Unknown tool: self.fly"}
    assert server.state.volume == 35


def test_device_status_is_a_json_string() -> None:
    server = DeviceMcpServer()
    server.state.volume = 42
    reply = server.handle(rpc("tools/call", {"name": "self.get_device_status", "arguments": {}}))
    status = json.loads(reply["result"]["content"][0]["text"])
    assert status["audio_speaker"]["volume"] == 42


def test_silent_cases_like_the_firmware() -> None:
    server = DeviceMcpServer()
    assert server.handle(rpc("tools/list", {}, "1")) is None  # string id
    assert server.handle({"jsonrpc": "2.0", "id": 1, "result": {}}) is None  # a response sent to the device
    assert server.handle({"jsonrpc": "2.0", "method": "notifications/initialized"}) is None
    assert server.handle({"jsonrpc": "1.0", "id": 1, "method": "tools/list"}) is None
    assert server.handle(rpc("resources/list"))["error"] == {
        "message": "Method not implemented: resources/list"
    }


def test_user_only_tools_are_hidden_by_default() -> None:
    server = DeviceMcpServer()
    names = [t["name"] for t in server.list_tools()["tools"]]
    assert "self.reboot" not in names and "self.audio_speaker.set_volume" in names
    all_names = [t["name"] for t in server.list_tools(with_user_tools=True)["tools"]]
    assert "self.reboot" in all_names
    reboot = next(t for t in server.list_tools(with_user_tools=True)["tools"] if t["name"] == "self.reboot")
    assert reboot["annotations"] == {"audience": ["user"]}


def test_tool_schema_required_exactly_without_default() -> None:
    tool = Tool(
        "self.x",
        "d",
        lambda a: a,
        [Property("a", "integer", minimum=0, maximum=5), Property("b", "string", default="z")],
    )
    schema = tool.to_json()["inputSchema"]
    assert schema["required"] == ["a"] and schema["properties"]["b"]["default"] == "z"


def test_tools_list_pages_at_8000_bytes_with_next_cursor() -> None:
    server = DeviceMcpServer()
    for i in range(40):
        server.add_tool(Tool(f"self.extra.tool_{i:02d}", "长描述" * 100, lambda a: True))
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        reply = server.handle(rpc("tools/list", {"cursor": cursor}, pages + 1))
        result = reply["result"]
        assert (
            len(json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()) <= MAX_TOOLS_PAYLOAD
        )
        seen += [t["name"] for t in result["tools"]]
        pages += 1
        if "nextCursor" not in result:
            break
        assert result["nextCursor"] not in seen  # cursor = first tool of the next page
        cursor = result["nextCursor"]
    assert pages > 2
    assert seen == [t.name for t in server.tools if not t.user_only]
