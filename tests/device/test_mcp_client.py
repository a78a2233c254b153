"""server.voice.device_mcp against the virtual device's firmware MCP server, over the real socket."""

import asyncio

import pytest

from firmware_bridge.device_mcp import Property, Tool
from firmware_bridge.virtual_device import VirtualDevice
from server.voice.channel import DeviceToolError, DeviceToolMissing
from tests.device.helpers import running_server


async def test_set_volume_and_status_through_the_channel() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="cc:00:00:00:00:01")
        await dev.connect()
        handler = h.handler_for("cc:00:00:00:00:01")
        await handler.wait_event("open")
        channel = handler.channel
        assert await channel.call_device_tool("self.audio_speaker.set_volume", {"volume": 30}) is True
        assert dev.mcp.state.volume == 30
        status = await channel.call_device_tool("self.get_device_status", {})
        assert status["audio_speaker"]["volume"] == 30
        with pytest.raises(DeviceToolError, match="Value exceeds maximum allowed: 100"):
            await channel.call_device_tool("self.audio_speaker.set_volume", {"volume": 150})
        calls_before = len(dev.received("mcp"))
        with pytest.raises(DeviceToolMissing, match=r"has no tool self\.nope"):
            await channel.call_device_tool("self.nope", {})  # absent from tools/list: never sent
        assert len(dev.received("mcp")) == calls_before
        assert dev.mcp.state.volume == 30
        ids = [e.message["payload"]["id"] for e in dev.received("mcp") if "id" in e.message["payload"]]
        assert all(isinstance(i, int) for i in ids) and len(ids) == len(set(ids))
        await dev.close()


async def test_tools_list_follows_next_cursor_past_8000_bytes() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="cc:00:00:00:00:02")
        for i in range(30):
            dev.mcp.add_tool(
                Tool(
                    f"self.lamp_{i:02d}.set_level",
                    "调节灯光亮度。" * 40,
                    lambda args: True,
                    [Property("level", "integer", minimum=0, maximum=10)],
                )
            )
        await dev.connect()
        handler = h.handler_for("cc:00:00:00:00:02")
        await handler.wait_event("open")
        tools = await handler.channel.device_tools()
        assert [t["name"] for t in tools] == [t.name for t in dev.mcp.tools if not t.user_only]
        cursors = [
            e.message["payload"]["params"]["cursor"]
            for e in dev.events
            if e.direction == "in"
            and e.message
            and e.message.get("payload", {}).get("method") == "tools/list"
        ]
        assert len(cursors) >= 3 and cursors[0] == "" and all(cursors[1:])
        assert await handler.channel.call_device_tool("self.lamp_29.set_level", {"level": 3}) is True
        assert dev.mcp.calls[-1] == ("self.lamp_29.set_level", {"level": 3})
        await dev.close()


async def test_unanswered_call_times_out_and_close_fails_pending_calls() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="cc:00:00:00:00:03")
        await dev.connect()
        handler = h.handler_for("cc:00:00:00:00:03")
        await handler.wait_event("open")
        await handler.channel.device_tools()
        dev.mcp.handle = lambda payload: None  # a device that stops answering
        with pytest.raises(DeviceToolError, match="in time"):
            await handler.channel.call_device_tool("self.get_device_status", {}, timeout=0.3)
        pending = asyncio.create_task(
            handler.channel.call_device_tool("self.get_device_status", {}, timeout=5)
        )
        await asyncio.sleep(0.1)
        await dev.close()
        with pytest.raises(DeviceToolError, match="closed"):
            await asyncio.wait_for(pending, 3)


async def test_device_without_mcp_lists_no_tools() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="cc:00:00:00:00:04")
        dev.config.hello = {
            "type": "hello",
            "version": 1,
            "transport": "websocket",
            "features": {"mcp": False},
        }
        await dev.connect()
        handler = h.handler_for("cc:00:00:00:00:04")
        await handler.wait_event("open")
        assert await handler.channel.device_tools() == []
        await asyncio.sleep(0.1)
        assert not dev.received("mcp")  # no initialize for a device without MCP
        await dev.close()
