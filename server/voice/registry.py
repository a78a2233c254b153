"""Which devices have an open socket right now, and server-initiated speech to them.

Over WebSocket the device is the client and connects only on a user action, so "push" means: the device's
socket is still up (Listening in auto mode, or Idle after a manual turn). Speech must not start while the
device is still Connecting (before its first ``listen``): the firmware rejects ``tts start`` there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from server.voice.channel import DeviceInfo, PlayResult, SpeechChunk

if TYPE_CHECKING:
    from server.voice.transport import DeviceConnection

log = logging.getLogger(__name__)

Listener = Callable[[str, "DeviceConnection"], None]  # ("online" | "offline", channel)


class DeviceOfflineError(LookupError):
    """No open socket for that device (or it went away before speech could start)."""


class DeviceRegistry:
    def __init__(self) -> None:
        self._channels: dict[str, DeviceConnection] = {}
        self._listeners: list[Listener] = []

    def register(self, channel: DeviceConnection) -> None:
        """The newest connection of a device wins (the firmware drops its old socket on reconnect)."""
        self._channels[channel.info.device_id] = channel
        self._notify("online", channel)

    def unregister(self, channel: DeviceConnection) -> None:
        if self._channels.get(channel.info.device_id) is channel:
            del self._channels[channel.info.device_id]
            self._notify("offline", channel)

    def get(self, device_id: str) -> DeviceConnection | None:
        return self._channels.get(device_id.lower()) or self._channels.get(device_id)

    def online(self) -> list[DeviceInfo]:
        return [c.info for c in self._channels.values()]

    def channels(self) -> list[DeviceConnection]:
        return list(self._channels.values())

    def add_listener(self, listener: Listener) -> None:
        """Called synchronously on every online/offline change (e.g. to deliver queued alerts)."""
        self._listeners.append(listener)

    def _notify(self, event: str, channel: DeviceConnection) -> None:
        for listener in self._listeners:
            try:
                listener(event, channel)
            except Exception:
                log.exception("device registry listener failed")

    async def speak(
        self,
        device_id: str,
        chunks: AsyncIterator[SpeechChunk],
        emotion: str | None = None,
        ready_timeout: float = 10.0,
    ) -> PlayResult:
        """Speak on a connected device now: waits until it is Listening or Idle (never while Connecting)
        and until any current utterance has finished. Raises DeviceOfflineError."""
        channel = self.get(device_id)
        if channel is None:
            raise DeviceOfflineError(f"device {device_id} has no open connection")
        try:
            await channel.wait_ready(ready_timeout)
        except TimeoutError:
            raise DeviceOfflineError(f"device {device_id} did not become ready in {ready_timeout}s") from None
        if channel.closed:
            raise DeviceOfflineError(f"device {device_id} disconnected")
        return await channel.play(chunks, emotion)

    async def wait_online(self, device_id: str, timeout: float) -> DeviceConnection:
        """Wait until the device has a ready connection (for tests and delayed deliveries)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            channel = self.get(device_id)
            if channel is not None and channel.device_state != "connecting":
                return channel
            if asyncio.get_running_loop().time() >= deadline:
                raise DeviceOfflineError(f"device {device_id} did not come online in {timeout}s")
            await asyncio.sleep(0.02)
