"""The agent's MCP client: one session to the in-process MCP server (the SDK's in-memory transport)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

log = logging.getLogger(__name__)


class InProcessMcp:
    """One MCP client session to the in-process server (the SDK's in-memory transport).

    The session lives in its own task: anyio scopes must be entered and left by the same task, while
    tool calls come from whichever turn task needs them."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._closing: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> Any:
        async with self._lock:
            if self._client is not None and self._task is not None and not self._task.done():
                return self._client
            self._ready, self._closing, self._error = asyncio.Event(), asyncio.Event(), None
            self._task = asyncio.create_task(self._run(), name="agent-mcp-session")
            await self._ready.wait()
            if self._client is None:
                raise RuntimeError(f"in-process MCP session failed to start: {self._error!r}")
            return self._client

    async def _run(self) -> None:
        from mcp import Client

        assert self._ready is not None and self._closing is not None
        try:
            async with Client(self.server, mode="legacy") as client:
                self._client = client
                self._ready.set()
                await self._closing.wait()
        except BaseException as exc:
            self._error = exc
            if not isinstance(exc, Exception):
                raise
            log.exception("in-process MCP session ended")
        finally:
            self._client = None
            self._ready.set()

    async def list_tools(self) -> list[Any]:
        client = await self._ensure()
        return list((await client.list_tools()).tools)

    async def call_tool(self, name: str, arguments: dict[str, Any], timeout: float) -> tuple[bool, str]:
        """(ok, text) of one tool call; transport problems come back as (False, message)."""
        client = await self._ensure()
        try:
            result = await asyncio.wait_for(client.call_tool(name, arguments), timeout)
        except TimeoutError:
            return False, json.dumps({"error": f"{name} timed out after {timeout:.0f}s"})
        except Exception as exc:
            log.warning("MCP call %s failed: %s", name, exc)
            return False, json.dumps({"error": f"{name} failed: {type(exc).__name__}"})
        text = "".join(getattr(c, "text", "") for c in result.content)
        return not result.is_error, text

    async def close(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 5)
        self._task = None
