from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from server.voice.channel import DeviceInfo
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.tools.conftest import day, day_results

__all__ = ["day", "day_results"]


class SlowStreamServer(FakeOpenAIServer):
    """The fake OpenAI server, but streamed text pauses ``pause`` seconds after every sentence end,
    as a real model writes. After the first sentence it writes nothing more until the test sets
    ``heard_first`` (or ``gate_timeout`` passes): ``first_heard_while_writing`` then says whether the
    listener had the first sentence before the rest was written, however slow or loaded the machine."""

    pause = 0.4
    gate_timeout = 10.0

    def __init__(self, model: str = "fake-model") -> None:
        super().__init__(model)
        self.heard_first = threading.Event()
        self.first_heard_while_writing: bool | None = None

    async def _stream(self, request: web.Request, body: dict[str, Any], r: Reply) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await resp.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        for ch in r.text:
            await send({"content": ch})
            if ch in "。？" and self.first_heard_while_writing is None:
                deadline = time.monotonic() + self.gate_timeout
                while not self.heard_first.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                self.first_heard_while_writing = self.heard_first.is_set()
            elif ch in "。？":
                await asyncio.sleep(self.pause)
        await send({}, finish="stop")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


@pytest.fixture
def llm_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def slow_llm_server() -> Iterator[SlowStreamServer]:
    with SlowStreamServer() as srv:
        yield srv


class Channel:
    """The identity part of a device channel: the agent only reads ``info`` (device tools are tested
    end to end through a real socket)."""

    def __init__(self, device_id: str = "aa:bb:cc:dd:ee:01") -> None:
        self.info = DeviceInfo(device_id=device_id, client_id="c", session_id="s", protocol_version=1)


@pytest.fixture
def results_dir(tmp_path: Path, day_results: Path) -> Path:
    return day_results
