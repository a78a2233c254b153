"""The contract between the device transport and the dialogue.

The transport (server.voice.transport) owns the socket: hello, auth, binary framing, Opus decode of the
uplink, Opus encode + real-time pacing of the downlink, and the MCP client to the device. It hands every
decoded event to a ``SessionHandler`` and gives the handler a ``DeviceChannel`` to talk back with.

The dialogue (server.dialogue) implements ``SessionHandler``. Alerts and other server-initiated speech use
``DeviceRegistry`` to find an open channel and call ``play`` on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class SpeechChunk:
    """One sentence to speak: its display text and mono int16 PCM at ``sample_rate``."""

    text: str
    pcm: np.ndarray  # int16, mono
    sample_rate: int


@dataclass
class DeviceInfo:
    device_id: str
    client_id: str
    session_id: str
    protocol_version: int  # binary framing 1/2/3
    features: dict[str, Any] = field(default_factory=dict)
    uplink_sample_rate: int = 16000
    uplink_frame_ms: int = 60
    remote: str = ""


@dataclass
class PlayResult:
    frames_sent: int
    aborted: bool
    first_frame_at: float | None  # time.monotonic() of the first audio frame sent


class DeviceChannel(Protocol):
    info: DeviceInfo
    listen_mode: str  # auto | manual | realtime ("" before the first listen)
    listening: bool
    speaking: bool

    async def send_json(self, message: dict[str, Any]) -> None: ...

    async def play(self, chunks: AsyncIterator[SpeechChunk], emotion: str | None = None) -> PlayResult:
        """tts start, ≥50 ms gap, per sentence `sentence_start` + paced Opus frames, tts stop after play-out.

        Cancelling the task (or ``stop_speaking``) stops audio at once and still sends ``tts stop``."""
        ...

    async def stop_speaking(self) -> None: ...

    async def call_device_tool(self, name: str, arguments: dict[str, Any], timeout: float = 5.0) -> Any:
        """MCP tools/call on the device; raises DeviceToolError on an MCP error or timeout."""
        ...

    async def device_tools(self) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...


class SessionHandler(Protocol):
    """Receives the decoded device events of one connection. All methods are awaited in order."""

    async def on_open(self, channel: DeviceChannel) -> None: ...

    async def on_listen(self, state: str, mode: str | None, text: str | None) -> None:
        """state: start | stop | detect (text = wake word or a typed query)."""
        ...

    async def on_audio(self, pcm: np.ndarray) -> None:
        """Uplink audio, decoded: int16 mono 16 kHz. Also called for pre-roll frames before listen start."""
        ...

    async def on_abort(self, reason: str | None) -> None: ...

    async def on_close(self) -> None: ...


class DeviceToolError(RuntimeError):
    pass


class DeviceToolMissing(DeviceToolError):
    """The device has no such tool (or never sent its tool list): raised at once, nothing is called."""
