"""The firmware's MCP server (``main/mcp_server.cc``), as the virtual device runs it.

Behaviour kept from the firmware because servers depend on it (reference §4): numeric ids only (string ids
get no reply), responses sent *to* the device are ignored, ``notifications/*`` get no reply, errors are
``{"message"}`` without ``code``, ``tools/list`` pages at 8000 bytes with ``nextCursor`` = the first tool
name of the next page, arguments are type- and range-checked, results are text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_TOOLS_PAYLOAD = 8000
PROTOCOL_VERSION = "2024-11-05"


@dataclass(frozen=True)
class Property:
    name: str
    type: str  # boolean | integer | string
    default: Any = None  # a property is required exactly when it has no default
    minimum: int | None = None
    maximum: int | None = None
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is None

    def schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": self.type}
        if self.description:
            s["description"] = self.description
        if self.default is not None:
            s["default"] = self.default
        if self.minimum is not None:
            s["minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        return s


ToolResult = bool | int | str | dict[str, Any] | list[Any]


@dataclass
class Tool:
    name: str
    description: str
    handler: Callable[[dict[str, Any]], ToolResult]
    properties: list[Property] = field(default_factory=list)
    user_only: bool = False

    def to_json(self) -> dict[str, Any]:
        tool: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "inputSchema": {
                "type": "object",
                "properties": {p.name: p.schema() for p in self.properties},
                "required": [p.name for p in self.properties if p.required],
            },
        }
        if self.user_only:
            tool["annotations"] = {"audience": ["user"]}
        return tool


class ToolCallError(Exception):
    """A tool failure; its message goes back as ``error.message``."""


@dataclass
class DeviceState:
    volume: int = 70
    brightness: int = 80
    theme: str = "light"
    battery_level: int = 87
    charging: bool = False
    ssid: str = "xiaozhi-lab"
    signal: str = "strong"
    chip_temperature: float = 41.5


def _result_text(value: ToolResult) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class DeviceMcpServer:
    def __init__(self, board_name: str = "virtual-device", firmware_version: str = "2.4.2") -> None:
        self.board_name = board_name
        self.firmware_version = firmware_version
        self.state = DeviceState()
        self.vision: dict[str, Any] | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []  # every successful tools/call, in order
        self._tools: list[Tool] = []
        self._add_common_tools()

    # ---------------------------------------------------------------- tools

    def add_tool(self, tool: Tool) -> None:
        if any(t.name == tool.name for t in self._tools):
            raise ValueError(f"duplicate tool {tool.name}")
        self._tools.append(tool)

    def remove_tool(self, name: str) -> Tool:
        """Drop a tool (boards without a speaker, or to rename it: remove, then add under a new name)."""
        tool = next(t for t in self._tools if t.name == name)
        self._tools.remove(tool)
        return tool

    def rename_tool(self, name: str, new_name: str) -> None:
        """List ``name`` as ``new_name`` (e.g. ``set_volume``, as xiaozhi-sdk and some boards do)."""
        tool = self.remove_tool(name)
        self.add_tool(Tool(new_name, tool.description, tool.handler, tool.properties, tool.user_only))

    @property
    def tools(self) -> list[Tool]:
        return list(self._tools)

    def _add_common_tools(self) -> None:
        self.add_tool(
            Tool(
                "self.get_device_status",
                "Provides the real-time information of the device, including the current status of the "
                "audio speaker, screen, battery, network, etc.",
                lambda args: {
                    "audio_speaker": {"volume": self.state.volume},
                    "screen": {"brightness": self.state.brightness, "theme": self.state.theme},
                    "battery": {"level": self.state.battery_level, "charging": self.state.charging},
                    "network": {"type": "wifi", "ssid": self.state.ssid, "signal": self.state.signal},
                    "chip": {"temperature": self.state.chip_temperature},
                },
            )
        )
        self.add_tool(
            Tool(
                "self.audio_speaker.set_volume",
                "Set the volume of the audio speaker.",
                self._set_volume,
                [Property("volume", "integer", minimum=0, maximum=100)],
            )
        )
        self.add_tool(
            Tool("self.reboot", "Reboot the system.", lambda args: True, user_only=True),
        )

    def _set_volume(self, args: dict[str, Any]) -> ToolResult:
        self.state.volume = int(args["volume"])
        return True

    # ---------------------------------------------------------------- JSON-RPC

    def handle(self, payload: Any) -> dict[str, Any] | None:
        """One incoming JSON-RPC message -> the reply payload, or None when the firmware stays silent."""
        if not isinstance(payload, dict) or payload.get("jsonrpc") != "2.0":
            return None
        method = payload.get("method")
        if not isinstance(method, str):  # a response sent to the device
            return None
        if method.startswith("notifications"):
            return None
        params = payload.get("params", {})
        if params is None:
            params = {}
        req_id = payload.get("id")
        if isinstance(req_id, bool) or not isinstance(req_id, int | float):
            return None  # the firmware rejects non-numeric ids with a log line and no reply
        req_id = int(req_id)
        if not isinstance(params, dict):
            return self._error(req_id, "Invalid params for method: " + method)
        if method == "initialize":
            caps = params.get("capabilities")
            if isinstance(caps, dict) and isinstance(caps.get("vision"), dict):
                self.vision = caps["vision"]
            return self._result(
                req_id,
                {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": self.board_name, "version": self.firmware_version},
                },
            )
        if method == "tools/list":
            cursor = params.get("cursor", "")
            with_user = params.get("withUserTools", False)
            return self._result(
                req_id,
                self.list_tools(cursor if isinstance(cursor, str) else "", with_user is True),
            )
        if method == "tools/call":
            name = params.get("name")
            args = params.get("arguments", {})
            if not isinstance(name, str):
                return self._error(req_id, "Missing name")
            if not isinstance(args, dict):
                return self._error(req_id, "Invalid arguments")
            try:
                text = self.call_tool(name, args)
            except ToolCallError as exc:
                return self._error(req_id, str(exc))
            return self._result(req_id, {"content": [{"type": "text", "text": text}], "isError": False})
        return self._error(req_id, f"Method not implemented: {method}")

    def list_tools(self, cursor: str = "", with_user_tools: bool = False) -> dict[str, Any]:
        """One page of at most ~8000 bytes; ``nextCursor`` names the first tool that did not fit."""
        visible = [t for t in self._tools if with_user_tools or not t.user_only]
        start = next((i for i, t in enumerate(visible) if t.name == cursor), 0) if cursor else 0
        page: list[dict[str, Any]] = []
        size = len('{"tools":[]}')
        next_cursor: str | None = None
        for tool in visible[start:]:
            encoded = json.dumps(tool.to_json(), ensure_ascii=False, separators=(",", ":"))
            extra = len(encoded.encode()) + (1 if page else 0)
            if page and size + extra > MAX_TOOLS_PAYLOAD:
                next_cursor = tool.name
                break
            page.append(tool.to_json())
            size += extra
        result: dict[str, Any] = {"tools": page}
        if next_cursor is not None:
            result["nextCursor"] = next_cursor
        return result

    def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        tool = next((t for t in self._tools if t.name == name), None)
        if tool is None:
            raise ToolCallError(f"Unknown tool: {name}")
        args: dict[str, Any] = {}
        for prop in tool.properties:
            value = arguments.get(prop.name, prop.default)
            if value is None or not _type_ok(prop.type, value):
                raise ToolCallError(f"Missing valid argument: {prop.name}")
            if prop.type == "integer":
                if prop.minimum is not None and value < prop.minimum:
                    raise ToolCallError(f"Value is below minimum allowed: {prop.minimum}")
                if prop.maximum is not None and value > prop.maximum:
                    raise ToolCallError(f"Value exceeds maximum allowed: {prop.maximum}")
            args[prop.name] = value
        text = _result_text(tool.handler(args))
        self.calls.append((name, args))
        return text

    @staticmethod
    def _result(req_id: int, result: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": req_id, "result": result}

    @staticmethod
    def _error(req_id: int, message: str) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": req_id, "error": {"message": message}}


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    return False
