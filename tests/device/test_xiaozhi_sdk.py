"""A third-party client nobody here wrote, through its own library API: xiaozhi-sdk (PyPI).

Against a real service on 127.0.0.1 ephemeral ports: OTA (the SDK strips the trailing slash) → WebSocket
hello (``Authorization: Bearer `` with an empty token, ``listen`` mode realtime) → a spoken command → reply
audio the SDK decodes; then the service's device MCP client talks to the SDK's own MCP handler:
initialize (with ``capabilities.vision``, which the SDK reads unconditionally), tools/list (the SDK names
its tools ``set_volume`` / ``get_device_status``, without ``self.``) and tools/call for a volume change.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes.util
import os
import time
from typing import Any

import numpy as np
import pytest

import firmware_bridge.audio  # noqa: F401 - opuslib loads the system libopus before the SDK patches ctypes
from tests.e2e.voice import command

_find_library = ctypes.util.find_library
try:
    import xiaozhi_sdk  # noqa: F401 - a dev dependency (pyproject [dev], requirements.lock)
except ImportError:
    if os.environ.get("CI") == "true":  # CI installs the lock: a missing SDK is a setup bug, not a skip
        raise
    pytest.skip("xiaozhi-sdk is not installed (pip install -e .[dev])", allow_module_level=True)
finally:
    ctypes.util.find_library = _find_library  # the SDK patches it process-wide on import

MAC = "aa:bb:cc:dd:ee:42"
FRAME = 960  # 60 ms at 16 kHz


class SdkDevice:
    """What the SDK's CLI does, headless: messages collected, tools answered by plain functions."""

    def __init__(self, ota_url: str) -> None:
        from xiaozhi_sdk import XiaoZhiWebsocket

        self.messages: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.volume = 50
        self.tool_calls: list[tuple[str, dict[str, Any]]] = []
        self.ws = XiaoZhiWebsocket(
            self.on_message, ota_url=ota_url, audio_sample_rate=16000, audio_channels=1
        )

    async def on_message(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.changed.set()

    def status(self, args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        self.tool_calls.append(("get_device_status", args))
        return {"audio_speaker": {"volume": self.volume}}, False

    def set_volume(self, args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        self.tool_calls.append(("set_volume", args))
        self.volume = int(args["volume"])
        return {"success": True}, False

    async def start(self) -> None:
        from xiaozhi_sdk.utils.mcp_tool import get_device_status, set_volume

        def status(args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
            return self.status(args)

        def volume(args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
            return self.set_volume(args)

        # plain functions: the SDK deep-copies its tool table on every tools/list
        await self.ws.set_mcp_tool(
            [{**get_device_status, "tool_func": status}, {**set_volume, "tool_func": volume}]
        )
        assert await self.ws.init_connection(MAC)

    async def wait_for(
        self, type_: str, state: str | None = None, since: int = 0, timeout: float = 60
    ) -> int:
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.messages[since:], since):
                if m.get("type") == type_ and (state is None or m.get("state") == state):
                    return i
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {type_} {state}; got {self.messages[since:]}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), deadline - time.monotonic())

    async def say(self, pcm: np.ndarray) -> None:
        """Mic audio through the SDK's encoder, a little faster than real time, then silence."""
        pcm = np.concatenate([pcm, np.zeros(FRAME - len(pcm) % FRAME, dtype=np.int16)])
        for i in range(0, len(pcm), FRAME):
            await self.ws.send_audio(pcm[i : i + FRAME].tobytes())
            await asyncio.sleep(0.03)
        await self.ws.send_silence_audio(1.2)

    def said(self, since: int) -> str:
        return "".join(
            m.get("text", "")
            for m in self.messages[since:]
            if m.get("type") == "tts" and m.get("state") == "sentence_start"
        )


async def test_xiaozhi_sdk_ota_hello_spoken_turn_and_device_mcp(start_app) -> None:
    app = await start_app()
    device = SdkDevice(f"http://127.0.0.1:{app.http_port}/xiaozhi/ota/")
    await device.start()
    try:
        assert device.ws.session_id  # the server hello was accepted (audio_params complete)

        # a spoken command, and the reply as audio the SDK decodes
        await device.say(command("chat.wav"))  # "今天是星期几"
        start = await device.wait_for("tts", "start")
        stop = await device.wait_for("tts", "stop", since=start)
        await asyncio.sleep(0.2)
        stt = [m["text"] for m in device.messages if m["type"] == "stt"]
        assert any("星期" in t for t in stt)
        assert "星期" in device.said(start)
        assert len(device.ws.output_audio_queue) > 0  # decoded reply PCM
        for m in device.messages[: stop + 1]:
            assert m.get("session_id") == device.ws.session_id  # lets a client match and abort a reply
            if m["type"] == "llm":
                assert m["text"] and m["emotion"]  # the SDK's CLI prints message["text"]

        # device MCP through the SDK's own handler: initialize (vision), tools/list, tools/call
        channel = app.registry.get(MAC)
        assert channel is not None
        tools = [t["name"] for t in await channel.device_tools()]
        assert tools == ["get_device_status", "set_volume"]
        since = len(device.messages)
        await device.ws.send_text("把音量调到三十")
        await device.wait_for("tts", "stop", since=since)
        assert device.tool_calls[-1] == ("set_volume", {"volume": 30})
        assert "30" in device.said(since)
        since = len(device.messages)
        await device.ws.send_text("声音大一点")
        await device.wait_for("tts", "stop", since=since)
        assert [name for name, _ in device.tool_calls[-2:]] == ["get_device_status", "set_volume"]
        assert device.volume == 40 and "40" in device.said(since)
    finally:
        await device.ws.close()


async def test_a_device_without_a_volume_tool_gets_a_clear_answer_and_no_call(start_app) -> None:
    from firmware_bridge.virtual_device import VirtualDevice

    app = await start_app()
    device = VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/", device_id="aa:bb:cc:dd:ee:43")
    device.mcp.remove_tool("self.audio_speaker.set_volume")  # a board without a speaker volume tool
    async with device:
        await device.wake()
        await device.send_text("把音量调到50")
        await device.wait_json("tts", "stop", timeout=30)
        said = "".join(e.message["text"] for e in device.received("tts", "sentence_start"))
        assert "没有提供音量控制功能" in said and "失败" not in said
        calls = [e for e in device.received("mcp") if e.message["payload"].get("method") == "tools/call"]
        assert calls == []  # nothing was sent that the device could not answer
