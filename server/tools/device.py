"""Toolset "device": the robot's own MCP tools (status, volume), reached through its open socket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.tools.base import Caller, ToolError, Toolset, ToolSpec
from server.tools.common import obj
from server.tools.context import ToolContext
from server.voice.channel import DeviceToolError

if TYPE_CHECKING:
    from server.voice.transport import DeviceConnection

STATUS_TOOL = "self.get_device_status"
VOLUME_TOOL = "self.audio_speaker.set_volume"
DEVICE_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "description": "device id (MAC); optional when one device is online",
}


def _channel(ctx: ToolContext, args: dict[str, Any], caller: Caller) -> DeviceConnection:
    wanted = caller.device_id or args.get("device_id")
    if wanted:
        channel = ctx.registry.get(wanted)
        if channel is None:
            raise ToolError(f"device {wanted} is not connected")
        return channel
    channels = ctx.registry.channels()
    if not channels:
        raise ToolError("no device is connected")
    if len(channels) > 1:
        ids = ", ".join(c.info.device_id for c in channels)
        raise ToolError(f"several devices are connected ({ids}); pass device_id")
    return channels[0]


async def get_device_status(ctx: ToolContext, args: dict[str, Any], caller: Caller) -> dict[str, Any]:
    channel = _channel(ctx, args, caller)
    try:
        status = await channel.call_device_tool(STATUS_TOOL, {})
    except DeviceToolError as exc:
        raise ToolError(f"device {channel.info.device_id}: {exc}") from None
    return {"device_id": channel.info.device_id, "status": status}


async def set_volume(ctx: ToolContext, args: dict[str, Any], caller: Caller) -> dict[str, Any]:
    channel = _channel(ctx, args, caller)
    try:
        await channel.call_device_tool(VOLUME_TOOL, {"volume": args["volume"]})
    except DeviceToolError as exc:
        raise ToolError(f"device {channel.info.device_id}: {exc}") from None
    return {"device_id": channel.info.device_id, "volume": args["volume"]}


TOOLSET = Toolset(
    "device",
    "The xiaozhi robot itself, through its MCP tools.",
    (
        ToolSpec(
            "get_device_status",
            "The robot's status (speaker volume, screen, battery, network) from the device itself.",
            obj({"device_id": DEVICE_ID}),
            get_device_status,
            "device",
        ),
        ToolSpec(
            "set_volume",
            "Set the robot's speaker volume (0-100).",
            obj(
                {"volume": {"type": "integer", "minimum": 0, "maximum": 100}, "device_id": DEVICE_ID},
                ("volume",),
            ),
            set_volume,
            "device",
            read_only=False,
        ),
    ),
)
