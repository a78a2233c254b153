"""Shared pieces of the device tests: a running DeviceServer on an ephemeral port and small handlers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from firmware_bridge.audio import tone
from server.config import Settings
from server.voice.channel import DeviceChannel, DeviceInfo, SpeechChunk
from server.voice.downlink import chunks_from
from server.voice.registry import DeviceRegistry
from server.voice.transport import DeviceServer


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"host": "127.0.0.1", "ws_port": 0, "hello_timeout_s": 3.0, "idle_timeout_s": 30.0}
    base.update(overrides)
    return Settings(_env_file=None, **base)


def tone_sentences(count: int = 2, seconds: float = 0.6, rate: int = 16000) -> list[SpeechChunk]:
    return [SpeechChunk(f"第{i + 1}句", tone(440.0 + 110 * i, seconds, rate), rate) for i in range(count)]


class RecordingHandler:
    """Records every callback. On ``listen detect`` with text "speak" it answers with tone sentences
    (in a task, as a dialogue would); on "echo" or ``listen stop`` it sends ``stt`` and plays back the
    audio received since the last listen start."""

    instances: list[RecordingHandler]

    def __init__(self, info: DeviceInfo, sentences: int = 2, seconds: float = 0.6) -> None:
        self.info = info
        self.sentences = sentences
        self.seconds = seconds
        self.events: list[tuple[str, Any]] = []
        self.audio: list[np.ndarray] = []
        self.channel: DeviceChannel | None = None
        self.play_task: asyncio.Task[Any] | None = None
        self.closed = asyncio.Event()
        self.changed = asyncio.Event()

    def _log(self, name: str, value: Any) -> None:
        self.events.append((name, value))
        self.changed.set()
        self.changed = asyncio.Event()

    async def on_open(self, channel: DeviceChannel) -> None:
        self.channel = channel
        self._log("open", channel.info.session_id)

    async def on_listen(self, state: str, mode: str | None, text: str | None) -> None:
        self._log("listen", (state, mode, text))
        if state == "start":
            self.audio.clear()
        if state == "detect" and text == "speak":
            self.play_task = asyncio.create_task(self.speak(tone_sentences(self.sentences, self.seconds)))
        elif (state == "detect" and text == "echo") or state == "stop":
            pcm = np.concatenate(self.audio) if self.audio else np.zeros(0, np.int16)
            assert self.channel is not None
            await self.channel.send_json({"type": "stt", "text": f"heard {len(pcm) * 1000 // 16000} ms"})
            self.play_task = asyncio.create_task(self.speak([SpeechChunk("echo", pcm, 16000)]))

    async def speak(self, chunks: list[SpeechChunk]) -> Any:
        assert self.channel is not None
        result = await self.channel.play(chunks_from(chunks))
        self._log("played", result)
        return result

    async def on_audio(self, pcm: np.ndarray) -> None:
        self.audio.append(pcm)
        self._log("audio", len(pcm))

    async def on_abort(self, reason: str | None) -> None:
        self._log("abort", reason)

    async def on_close(self) -> None:
        self._log("close", None)
        self.closed.set()

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    async def wait_event(self, name: str, timeout: float = 5.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for n, value in self.events:
                if n == name:
                    return value
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"handler never got {name}; got {self.names()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)


class Harness:
    def __init__(self, server: DeviceServer, handlers: list[RecordingHandler]) -> None:
        self.server = server
        self.handlers = handlers
        self.registry = server.registry

    @property
    def url(self) -> str:
        return self.server.url

    def handler_for(self, device_id: str) -> RecordingHandler:
        for h in reversed(self.handlers):
            if h.info.device_id == device_id:
                return h
        raise LookupError(device_id)


@contextlib.asynccontextmanager
async def running_server(
    handler_kwargs: dict[str, Any] | None = None, **settings: Any
) -> AsyncIterator[Harness]:
    handlers: list[RecordingHandler] = []

    def factory(info: DeviceInfo) -> RecordingHandler:
        h = RecordingHandler(info, **(handler_kwargs or {}))
        handlers.append(h)
        return h

    server = DeviceServer(make_settings(**settings), factory, DeviceRegistry())
    await server.start()
    try:
        yield Harness(server, handlers)
    finally:
        await server.stop()
