"""A local OpenAI-compatible chat server that plays scripted responses.

Speaks the real wire protocol of `POST /v1/chat/completions` (JSON, and SSE `data: {...}` chunks ending
with `data: [DONE]` when the request has `"stream": true`), so the official `openai` SDK talks to it
unchanged. It runs aiohttp on 127.0.0.1:<free port> in a background thread, so it works from sync and
async tests alike, and records every request body for assertions.

    with FakeOpenAIServer() as srv:
        srv.push(Reply(text="你好"))
        srv.push(Fail(429, headers={"retry-after": "0"}), Reply(tool_calls=[("get_alerts", '{"n": 1}')]))
        client = LLMClient(LLMConfig(base_url=srv.base_url, model="fake"))
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    """A successful completion. Served streamed or not, as the request asks."""

    text: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON text)
    finish_reason: str | None = None  # default: "tool_calls" if tool_calls else "stop"
    prompt_tokens: int = 11
    completion_tokens: int = 7
    delay: float = 0.0  # seconds before answering (for client timeouts)
    chunk_chars: int = 3  # streamed text piece size


@dataclass
class Fail:
    status: int = 500
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Scripted = Reply | Fail
Responder = Callable[[dict[str, Any]], Scripted]


class FakeOpenAIServer:
    def __init__(self, model: str = "fake-model"):
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._script: deque[Scripted | Responder] = deque()
        self.default: Scripted | Responder | None = None  # used when the script is empty
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- script --
    def push(self, *items: Scripted | Responder) -> None:
        self._script.extend(items)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pending(self) -> int:
        return len(self._script)

    # -- lifecycle --
    def start(self) -> FakeOpenAIServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._start_app())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start_app(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    # -- protocol --
    def _next(self, body: dict[str, Any]) -> Scripted:
        item = self._script.popleft() if self._script else self.default
        if item is None:
            return Fail(500, "fake server: no scripted response left")
        return item(body) if callable(item) else item

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "invalid JSON body")
        self.requests.append({"headers": dict(request.headers), "body": body})
        if not isinstance(body.get("messages"), list) or not body.get("model"):
            return _error(400, "model and messages are required")
        item = self._next(body)
        if item.delay:
            await asyncio.sleep(item.delay)
        if isinstance(item, Fail):
            return _error(item.status, item.message, item.headers)
        if body.get("stream"):
            return await self._stream(request, body, item)
        return web.json_response(self._completion(item))

    def _completion(self, r: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": r.text or None}
        if r.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{i}_{uuid.uuid4().hex[:8]}",
                    "type": "function",
                    "function": {"name": n, "arguments": a},
                }
                for i, (n, a) in enumerate(r.tool_calls)
            ]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": _finish(r), "logprobs": None}],
            "usage": _usage(r),
        }

    async def _stream(self, request: web.Request, body: dict[str, Any], r: Reply) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())

        async def send(delta: dict[str, Any], finish: str | None = None, usage: dict | None = None) -> None:
            chunk = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage:
                chunk["usage"] = usage
            await resp.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        step = max(1, r.chunk_chars)
        for i in range(0, len(r.text), step):
            await send({"content": r.text[i : i + step]})
        for idx, (name, args) in enumerate(r.tool_calls):
            # First fragment names the call, the rest append to its arguments (as real providers do).
            head = {"index": idx, "id": f"call_{idx}_{uuid.uuid4().hex[:8]}", "type": "function"}
            await send({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
            for j in range(0, len(args), 5):
                await send({"tool_calls": [{"index": idx, "function": {"arguments": args[j : j + 5]}}]})
        await send({}, finish=_finish(r))
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({}, usage=_usage(r))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _finish(r: Reply) -> str:
    return r.finish_reason or ("tool_calls" if r.tool_calls else "stop")


def _usage(r: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "total_tokens": r.prompt_tokens + r.completion_tokens,
    }


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = {429: "rate_limit_error", 400: "invalid_request_error"}.get(status, "server_error")
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": None}},
        status=status,
        headers=headers or {},
    )
