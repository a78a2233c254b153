"""Third-party client compatibility (issue 13, findings 1-5): MCP vision capability, tool names resolved
from the device's own tools/list, session_id and the llm emoji in every server message, and a keepalive
that never closes a busy device whose pongs are late."""

import asyncio
import time

import pytest

from firmware_bridge import protocol as P
from firmware_bridge.audio import silence
from firmware_bridge.virtual_device import VirtualDevice
from server.voice.channel import DeviceToolMissing
from server.voice.device_mcp import resolve_tool_name
from server.voice.transport import CLOSE_DEAD
from tests.device.helpers import running_server


def _mcp_requests(dev: VirtualDevice, method: str) -> list[dict]:
    return [
        e.message["payload"]
        for e in dev.events
        if e.direction == "in" and e.message and e.message.get("type") == "mcp"
        and e.message["payload"].get("method") == method
    ]  # fmt: skip


async def _open(h, dev: VirtualDevice):
    await dev.connect()
    handler = h.handler_for(dev.config.device_id)
    await handler.wait_event("open")
    return handler.channel


async def test_initialize_always_carries_a_vision_capability() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="ce:00:00:00:00:01")
        channel = await _open(h, dev)
        await channel.device_tools()
        (init,) = _mcp_requests(dev, "initialize")
        vision = init["params"]["capabilities"]["vision"]
        assert isinstance(vision["url"], str) and isinstance(vision["token"], str)
        assert dev.mcp.vision == vision  # the firmware stored it
        await dev.close()


async def test_tool_names_come_from_the_devices_own_list() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="ce:00:00:00:00:02")
        dev.mcp.rename_tool("self.audio_speaker.set_volume", "set_volume")  # as xiaozhi-sdk names them
        dev.mcp.rename_tool("self.get_device_status", "get_device_status")
        channel = await _open(h, dev)
        assert await channel.call_device_tool("self.audio_speaker.set_volume", {"volume": 35}) is True
        status = await channel.call_device_tool("self.get_device_status", {})
        assert status["audio_speaker"]["volume"] == 35
        assert [name for name, _ in dev.mcp.calls] == ["set_volume", "get_device_status"]
        await dev.close()


async def test_absent_tool_fails_at_once_and_nothing_is_sent() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="ce:00:00:00:00:03")
        dev.mcp.remove_tool("self.audio_speaker.set_volume")
        channel = await _open(h, dev)
        await channel.device_tools()
        sent = len(dev.received("mcp"))
        t0 = time.monotonic()
        with pytest.raises(DeviceToolMissing, match=r"no tool self\.audio_speaker\.set_volume"):
            await channel.call_device_tool("self.audio_speaker.set_volume", {"volume": 10})
        assert time.monotonic() - t0 < 0.5
        assert len(dev.received("mcp")) == sent
        await dev.close()


async def test_tools_list_that_never_arrives_fails_fast_not_after_5_s() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="ce:00:00:00:00:04")
        dev.mcp.handle = lambda payload: None  # announces MCP, never answers anything
        channel = await _open(h, dev)
        t0 = time.monotonic()
        with pytest.raises(DeviceToolMissing, match="tool list"):
            await channel.call_device_tool("self.audio_speaker.set_volume", {"volume": 10})
        assert time.monotonic() - t0 < 2.5  # the old behaviour stalled 5 s per call
        assert not _mcp_requests(dev, "tools/call")
        await dev.close()


def test_resolve_tool_name_aliases_both_ways_and_unique_tails() -> None:
    sdk = ["get_device_status", "set_volume", "take_photo"]
    assert resolve_tool_name("self.audio_speaker.set_volume", sdk) == "set_volume"
    assert resolve_tool_name("self.get_device_status", sdk) == "get_device_status"
    firmware = ["self.get_device_status", "self.audio_speaker.set_volume"]
    assert resolve_tool_name("set_volume", firmware) == "self.audio_speaker.set_volume"
    assert resolve_tool_name("self.board.lamp.set_level", ["lamp.set_level"]) == "lamp.set_level"
    assert resolve_tool_name("self.audio_speaker.set_volume", ["self.screen.set_brightness"]) is None
    assert resolve_tool_name("x.set", ["a.set", "b.set"]) is None  # ambiguous tail: no guess


async def test_every_server_message_carries_the_session_id() -> None:
    async with running_server(handler_kwargs={"sentences": 1, "seconds": 0.3}) as h:
        dev = VirtualDevice(h.url, device_id="ce:00:00:00:00:05")
        await dev.connect()
        await dev.wake()
        await dev.send_text("echo")  # stt + a reply
        await dev.wait_json("tts", "stop", timeout=10)
        await h.handler_for("ce:00:00:00:00:05").channel.device_tools()
        received = [e.message for e in dev.events if e.direction == "in" and e.kind == "json"]
        types = {m["type"] for m in received}
        assert {"hello", "stt", "tts", "mcp"} <= types
        assert all(m.get("session_id") == dev.session_id for m in received)
        await dev.close()


def test_llm_message_has_an_emoji_text_and_a_known_emotion() -> None:
    msg = P.llm_emotion("thinking", "s1")
    assert msg == {"session_id": "s1", "type": "llm", "text": "🤔", "emotion": "thinking"}
    unknown = P.llm_emotion("euphoric")
    assert unknown["emotion"] == "neutral" and unknown["text"]


def _drop_pongs(dev: VirtualDevice) -> None:
    """A client on a slow link whose pongs never arrive in time (the worst case of "late")."""
    assert dev._ws is not None
    protocol = dev._ws.protocol
    send_frame = protocol.send_frame
    protocol.send_frame = lambda frame: None if frame.opcode.name == "PONG" else send_frame(frame)


async def test_late_pongs_never_close_a_device_that_streams_audio() -> None:
    async with running_server(ws_ping_interval_s=0.2, ws_ping_timeout_s=1.0) as h:
        dev = VirtualDevice(h.url, device_id="ce:00:00:00:00:06")
        await dev.connect()
        _drop_pongs(dev)
        await dev.start_listening()
        await dev.send_pcm(silence(3.0))  # 3 s of audio, 3x the ping timeout
        assert not dev.closed.is_set()
        await dev.close()


async def test_a_silent_device_without_pongs_is_closed_as_dead() -> None:
    async with running_server(ws_ping_interval_s=0.2, ws_ping_timeout_s=0.8) as h:
        dev = VirtualDevice(h.url, device_id="ce:00:00:00:00:07")
        await dev.connect()
        _drop_pongs(dev)
        await asyncio.wait_for(dev.closed.wait(), 5)
        assert dev.close_code == CLOSE_DEAD


async def test_a_silent_device_that_answers_pings_stays() -> None:
    async with running_server(ws_ping_interval_s=0.2, ws_ping_timeout_s=0.8) as h:
        dev = VirtualDevice(h.url, device_id="ce:00:00:00:00:08")
        await dev.connect()
        await asyncio.sleep(2.0)
        assert not dev.closed.is_set()
        await dev.close()
