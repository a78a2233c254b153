"""MCP client to the device (the device is the MCP server, reference §4).

JSON-RPC 2.0 inside ``{"type":"mcp","payload":…}``. Numeric ids only (the firmware drops string ids) from
one per-connection counter, so ids never collide; errors come back as ``{"message"}`` without ``code``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from firmware_bridge import protocol as P
from server.voice.channel import DeviceToolError
from server.voice.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
rlog = RateLimitedLog(log)

SendJson = Callable[[dict[str, Any]], Awaitable[None]]
MAX_PAGES = 32  # guards against a device that returns the same cursor forever
INT32_MAX = 2**31 - 1


class DeviceMcpClient:
    def __init__(
        self,
        send_json: SendJson,
        *,
        session_id: str | None = None,
        first_id: int = 1,
        timeout: float = 5.0,
        vision: dict[str, Any] | None = None,
    ) -> None:
        self._send = send_json
        self._session_id = session_id
        self._ids = itertools.count(first_id)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.timeout = timeout
        self.vision = vision
        self.server_info: dict[str, Any] | None = None
        self._closed = False

    def _next_id(self) -> int:
        req_id = next(self._ids)
        if req_id > INT32_MAX:  # the firmware reads id->valueint
            self._ids = itertools.count(1)
            req_id = next(self._ids)
        return req_id

    async def request(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """Send one request and return its ``result``; DeviceToolError on an error reply or timeout."""
        if self._closed:
            raise DeviceToolError("device connection closed")
        req_id = self._next_id()
        payload: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            payload["params"] = params
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            await self._send(P.mcp(payload, self._session_id))
            reply = await asyncio.wait_for(fut, timeout if timeout is not None else self.timeout)
        except TimeoutError:
            raise DeviceToolError(f"device did not answer {method} in time") from None
        finally:
            self._pending.pop(req_id, None)
        if "error" in reply:
            err = reply["error"]
            message = err.get("message") if isinstance(err, dict) else None
            raise DeviceToolError(str(message or err))
        return reply.get("result")

    def handle_message(self, payload: dict[str, Any]) -> bool:
        """Route one device ``mcp`` payload to its waiting request; False if nobody waits for it."""
        req_id = payload.get("id")
        source = self._session_id or id(self)
        if isinstance(req_id, bool) or not isinstance(req_id, int):
            method = payload.get("method")
            rlog.info(source, "device mcp message without a numeric id ignored: %.40r", method)
            return False
        fut = self._pending.get(req_id)
        if fut is None or fut.done():
            rlog.info(source, "device mcp reply for unknown id %.20s ignored", req_id)
            return False
        fut.set_result(payload)
        return True

    def close(self) -> None:
        self._closed = True
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(DeviceToolError("device connection closed"))
        self._pending.clear()

    # ---------------------------------------------------------------- MCP methods

    async def initialize(self, timeout: float | None = None) -> dict[str, Any]:
        # always a vision object, even empty: the official and xinnan servers send one and xiaozhi-sdk
        # reads capabilities.vision.url/token unconditionally (it never answers without them)
        vision = {"url": "", "token": ""}
        vision.update(self.vision or {})
        caps: dict[str, Any] = {"vision": vision}
        result = await self.request(
            "initialize",
            {
                "protocolVersion": "2024-11-05",
                "capabilities": caps,
                "clientInfo": {"name": "xiaozhi-ops", "version": "0.1.0"},
            },
            timeout,
        )
        self.server_info = result.get("serverInfo") if isinstance(result, dict) else None
        with contextlib.suppress(DeviceToolError):  # notifications get no reply from the firmware
            await self._send(
                P.mcp({"jsonrpc": "2.0", "method": "notifications/initialized"}, self._session_id)
            )
        return result if isinstance(result, dict) else {}

    async def list_tools(
        self, with_user_tools: bool = False, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """All tools, following ``nextCursor`` page by page."""
        tools: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"cursor": cursor}
            if with_user_tools:
                params["withUserTools"] = True
            result = await self.request("tools/list", params, timeout)
            if not isinstance(result, dict):
                raise DeviceToolError("tools/list returned no object")
            page = result.get("tools")
            if isinstance(page, list):
                tools.extend(t for t in page if isinstance(t, dict) and isinstance(t.get("name"), str))
            nxt = result.get("nextCursor")
            if not isinstance(nxt, str) or not nxt or nxt == cursor:
                return tools
            cursor = nxt
        log.warning("device tools/list still paging after %d pages; stopping", MAX_PAGES)
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any], timeout: float | None = None) -> Any:
        """Call one tool. Returns the text result parsed as JSON when it is JSON ("true" -> True,
        "42" -> 42, objects -> dict), else the text; several content items come back as a list."""
        result = await self.request("tools/call", {"name": name, "arguments": arguments}, timeout)
        if not isinstance(result, dict):
            raise DeviceToolError(f"{name}: malformed tools/call result")
        values = [_content_value(c) for c in result.get("content") or [] if isinstance(c, dict)]
        if result.get("isError"):
            raise DeviceToolError(f"{name}: {values[0] if values else 'tool error'}")
        if not values:
            return None
        return values[0] if len(values) == 1 else values


# Our canonical (firmware) tool names and the names other clients give the same tool. xiaozhi-sdk and
# older boards list ``set_volume`` / ``get_device_status`` without the ``self.`` path.
TOOL_ALIASES: dict[str, tuple[str, ...]] = {
    "self.audio_speaker.set_volume": ("set_volume", "self.set_volume", "audio_speaker.set_volume"),
    "self.get_device_status": ("get_device_status", "self.device.get_status"),
    "self.screen.set_brightness": ("set_brightness",),
    "self.screen.set_theme": ("set_theme",),
    "self.camera.take_photo": ("take_photo",),
    "self.reboot": ("reboot",),
}


def resolve_tool_name(wanted: str, available: list[str]) -> str | None:
    """The device's own name for ``wanted``: exact, then a known alias (either direction), then the one
    tool whose last dotted segment matches. None when the device has no such tool."""
    if wanted in available:
        return wanted
    names = {wanted}
    for canonical, aliases in TOOL_ALIASES.items():
        group = {canonical, *aliases}
        if wanted in group:
            names |= group
    for name in available:
        if name in names:
            return name
    tail = wanted.rsplit(".", 1)[-1]
    matches = [n for n in available if n.rsplit(".", 1)[-1] == tail]
    return matches[0] if len(matches) == 1 else None


def _content_value(item: dict[str, Any]) -> Any:
    if item.get("type") == "text":
        text = item.get("text", "")
        try:
            return json.loads(text)
        except (json.JSONDecodeError, TypeError):
            return text
    return item
