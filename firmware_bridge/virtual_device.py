"""A virtual xiaozhi device: the firmware's WebSocket behaviour and state machine, as a library.

It follows ``78/xiaozhi-esp32`` v2.x (reference §1-§4): header or query-param auth, hello with 60 ms audio
params, a 10 s wait for the server hello, wake-word pre-roll frames + ``listen detect``, ``listen start``
in auto/manual/realtime mode, uplink Opus paced in real time, downlink audio accepted only while Speaking
into a bounded decode queue (packets over the bound are dropped, as on the device), ``tts start`` refused
while Connecting, ``tts stop`` → Listening (sends ``listen start`` once playback drains) or Idle (manual),
and the firmware MCP server answering the server's requests.

Every sent and received message is recorded as a ``DeviceEvent`` with a ``time.monotonic()`` timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from firmware_bridge import protocol as P
from firmware_bridge.audio import (
    AudioError,
    OpusDecoder,
    OpusEncoder,
    read_wav,
    resample,
    tone,
    write_wav,
)
from firmware_bridge.device_mcp import DeviceMcpServer

log = logging.getLogger(__name__)

UPLINK_RATE = 16000
HELLO_WAIT_S = 10.0
DECODE_QUEUE_PACKETS = 40  # v1.9-v2.4.x; 20 after PR #2191


class DeviceError(RuntimeError):
    pass


@functools.cache
def _default_preroll(frame_ms: int) -> tuple[bytes, ...]:
    """~2 s of quiet hum as wake-word pre-roll, encoded once (many devices in one process share it)."""
    return tuple(OpusEncoder(UPLINK_RATE, frame_ms).encode_pcm(tone(220.0, 2.0, UPLINK_RATE, amplitude=0.02)))


@dataclass
class DeviceEvent:
    t: float  # time.monotonic()
    direction: str  # "in" (server -> device) | "out" (device -> server) | "local"
    kind: str  # json | raw | audio (received, accepted) | audio_out | audio_dropped | audio_overflow | closed | state | invalid
    message: dict[str, Any] | None = None
    size: int = 0  # bytes of the Opus payload for audio events
    samples: int = 0  # decoded samples for accepted audio
    note: str = ""

    def to_json(self, t0: float = 0.0) -> dict[str, Any]:
        d: dict[str, Any] = {"t": round(self.t - t0, 4), "dir": self.direction, "kind": self.kind}
        if self.message is not None:
            d["message"] = self.message
        if self.size:
            d["size"] = self.size
        if self.samples:
            d["samples"] = self.samples
        if self.note:
            d["note"] = self.note
        return d


@dataclass
class DeviceConfig:
    device_id: str = "aa:bb:cc:dd:ee:01"
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    token: str = ""
    authorization: str | None = None  # exact Authorization value (overrides token), e.g. "Bearer "
    protocol_version: int = 1
    auth: str = "headers"  # headers | query (browsers cannot set headers)
    listen_mode: str = "auto"  # auto | manual | realtime
    frame_ms: int = 60
    hello: dict[str, Any] | None = None  # full hello override (browser / SDK variants)
    hello_timeout_s: float = HELLO_WAIT_S
    decode_queue_packets: int = DECODE_QUEUE_PACKETS
    auto_relisten: bool = True  # after tts stop (non-manual): send listen start once playback drains


class VirtualDevice:
    def __init__(self, url: str, config: DeviceConfig | None = None, **overrides: Any) -> None:
        cfg = config or DeviceConfig()
        for key, value in overrides.items():
            if not hasattr(cfg, key):
                raise TypeError(f"unknown VirtualDevice option {key!r}")
            setattr(cfg, key, value)
        self.url = url
        self.config = cfg
        self.mcp = DeviceMcpServer()
        self.events: list[DeviceEvent] = []
        self.state = "idle"  # idle | connecting | listening | speaking
        self.listen_mode = cfg.listen_mode
        self.session_id: str | None = None
        self.server_hello: P.ServerHello | None = None
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._recv_task: asyncio.Task[None] | None = None
        self._hello_event = asyncio.Event()
        self._changed = asyncio.Event()
        self._decoder: OpusDecoder | None = None
        self._pcm: list[np.ndarray] = []
        self._play_end = 0.0  # monotonic time the decode queue runs empty
        self._relisten_task: asyncio.Task[None] | None = None
        self.t0 = time.monotonic()

    # ------------------------------------------------------------------ connection

    def _connect_target(self) -> tuple[str, dict[str, str]]:
        cfg = self.config
        auth = cfg.authorization
        if auth is None and cfg.token:
            auth = cfg.token if " " in cfg.token else f"Bearer {cfg.token}"
        params = {
            "Protocol-Version": str(cfg.protocol_version),
            "Device-Id": cfg.device_id,
            "Client-Id": cfg.client_id,
        }
        if auth is not None:
            params["Authorization"] = auth
        if cfg.auth == "headers":
            return self.url, params
        parts = urlsplit(self.url)
        query = {k.lower(): v for k, v in params.items() if k != "Protocol-Version"}
        extra = urlencode(query)
        url = urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
        return url, {}

    def _hello_message(self) -> dict[str, Any]:
        if self.config.hello is not None:
            return dict(self.config.hello)
        return P.device_hello(
            self.config.protocol_version,
            audio_params=P.AudioParams(sample_rate=UPLINK_RATE, frame_duration=self.config.frame_ms),
        )

    async def connect(self) -> P.ServerHello:
        """Open the socket, send hello and wait for the server hello (10 s by default, as the firmware)."""
        url, headers = self._connect_target()
        self._set_state("connecting")
        try:
            self._ws = await connect(url, additional_headers=headers, max_size=None, open_timeout=10)
        except Exception:
            self._set_state("idle")
            raise
        self._recv_task = asyncio.create_task(self._receive_loop(), name="virtual-device-recv")
        await self.send_json(self._hello_message())
        try:
            await asyncio.wait_for(self._hello_event.wait(), self.config.hello_timeout_s)
        except TimeoutError:
            await self.close()
            raise DeviceError("no valid server hello within the timeout") from None
        assert self.server_hello is not None
        return self.server_hello

    async def close(self) -> None:
        if self._relisten_task:
            self._relisten_task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._recv_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._recv_task

    async def __aenter__(self) -> VirtualDevice:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ sending

    async def send_json(self, message: dict[str, Any]) -> None:
        if self._ws is None:
            raise DeviceError("not connected")
        await self._ws.send(json.dumps(message, ensure_ascii=False))
        self._record("out", "json", message=message)

    async def send_raw(self, data: bytes | str) -> None:
        """Send any frame as-is (for malformed-input tests)."""
        if self._ws is None:
            raise DeviceError("not connected")
        await self._ws.send(data)
        self._record("out", "raw", size=len(data))

    async def send_opus(self, packet: bytes, timestamp: int = 0) -> None:
        if self._ws is None:
            raise DeviceError("not connected")
        await self._ws.send(P.encode_frame(packet, self.config.protocol_version, timestamp))
        self._record("out", "audio_out", size=len(packet))

    async def wake(
        self, wake_word: str = "你好小智", preroll: np.ndarray | None = None, then_listen: bool = True
    ) -> None:
        """What a wake word does: ~2 s of pre-roll Opus frames, ``listen detect``, then ``listen start``."""
        packets: tuple[bytes, ...] | list[bytes]
        if preroll is None:
            packets = _default_preroll(self.config.frame_ms)
        else:
            packets = OpusEncoder(UPLINK_RATE, self.config.frame_ms).encode_pcm(preroll)
        for packet in packets:  # sent in a burst, as the firmware does
            await self.send_opus(packet)
        await self.send_json(P.listen_detect(self.session_id, wake_word))
        if then_listen:
            await self.start_listening()

    async def start_listening(self, mode: str | None = None) -> None:
        self.listen_mode = mode or self.listen_mode
        await self.send_json(P.listen_start(self.session_id, self.listen_mode))
        self._set_state("listening")

    async def stop_listening(self) -> None:
        await self.send_json(P.listen_stop(self.session_id))
        self._set_state("idle")

    async def send_text(self, text: str) -> None:
        """A typed query, as the browser page sends it."""
        await self.send_json(P.listen_detect(self.session_id, text))

    async def abort(self, reason: str | None = None) -> None:
        await self.send_json(P.abort(self.session_id, reason))

    async def send_pcm(self, pcm: np.ndarray, sample_rate: int = UPLINK_RATE, realtime: bool = True) -> int:
        """Encode and send mic audio, one frame per frame duration on an absolute schedule.

        Like the firmware, the mic is off while Speaking unless the mode is realtime: those frames are
        skipped. Returns the number of frames sent."""
        pcm = resample(pcm, sample_rate, UPLINK_RATE)
        enc = OpusEncoder(UPLINK_RATE, self.config.frame_ms, dtx=True)
        step = self.config.frame_ms / 1000
        start = time.monotonic()
        sent = 0
        for i, packet in enumerate(enc.encode_pcm(pcm)):
            if realtime:
                delay = start + i * step - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if self.closed.is_set():
                break
            if self.state == "speaking" and self.listen_mode != "realtime":
                continue
            await self.send_opus(packet)
            sent += 1
        return sent

    async def send_wav(self, path: str | Path, realtime: bool = True) -> int:
        pcm, rate = read_wav(path)
        return await self.send_pcm(pcm, rate, realtime)

    # ------------------------------------------------------------------ receiving

    async def _receive_loop(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if isinstance(msg, str):
                    self._on_text(msg)
                else:
                    self._on_binary(msg)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code
            self._record("local", "closed", note=f"code={self.close_code}")
            self._set_state("idle")
            self.closed.set()

    def _on_text(self, text: str) -> None:
        try:
            msg = P.decode_json(text)
        except P.ProtocolError as exc:
            self._record("in", "invalid", note=str(exc))
            return
        self._record("in", "json", message=msg)
        kind = msg["type"]
        if kind == "hello":
            self._on_server_hello(msg)
        elif kind == "tts":
            self._on_tts(msg.get("state"))
        elif kind == "mcp":
            reply = self.mcp.handle(msg.get("payload"))
            if reply is not None:
                asyncio.get_running_loop().create_task(self._safe_send(P.mcp(reply, self.session_id)))

    def _on_server_hello(self, msg: dict[str, Any]) -> None:
        if self._hello_event.is_set():
            return  # only the first hello during the wait matters
        try:
            hello = P.parse_server_hello(msg)
        except P.ProtocolError as exc:
            self._record("local", "invalid", note=str(exc))
            return
        self.server_hello = hello
        self.session_id = hello.session_id
        self._decoder = OpusDecoder(hello.audio_params.sample_rate)
        self._hello_event.set()

    def _on_tts(self, state: Any) -> None:
        if state == "start":
            if self.state not in ("idle", "listening"):
                self._record("local", "invalid", note=f"invalid state transition {self.state} -> speaking")
                return
            if self._relisten_task:
                self._relisten_task.cancel()
            self._set_state("speaking")
            if self._decoder is not None:
                self._decoder.reset()
            self._play_end = 0.0  # entering Speaking clears the decode queue
        elif state == "stop" and self.state == "speaking":
            if self.listen_mode == "manual":
                self._set_state("idle")
            else:
                self._relisten_task = asyncio.get_running_loop().create_task(self._relisten_after_drain())

    async def _relisten_after_drain(self) -> None:
        await asyncio.sleep(max(0.0, self._play_end - time.monotonic()))
        if self.state != "speaking":
            return
        if self.config.auto_relisten:
            await self._safe_send(P.listen_start(self.session_id, self.listen_mode))
        self._set_state("listening")

    def _on_binary(self, data: bytes) -> None:
        now = time.monotonic()
        try:
            frame = P.decode_frame(data, self.config.protocol_version)
        except P.ProtocolError as exc:
            self._record("in", "invalid", size=len(data), note=str(exc))
            return
        if self.state != "speaking" or self._decoder is None:
            self._record("in", "audio_dropped", size=len(frame.payload), note=f"state={self.state}")
            return
        queued_s = max(0.0, self._play_end - now)
        if queued_s >= self.config.decode_queue_packets * self.config.frame_ms / 1000 - 1e-6:
            self._record("in", "audio_overflow", size=len(frame.payload), note=f"queued={queued_s:.3f}s")
            return
        try:
            pcm = self._decoder.decode(frame.payload)
        except AudioError as exc:
            self._record("in", "invalid", size=len(frame.payload), note=str(exc))
            return
        underrun = self._play_end > 0 and now > self._play_end
        self._play_end = max(self._play_end, now) + len(pcm) / self._decoder.sample_rate
        self._pcm.append(pcm)
        self._record(
            "in", "audio", size=len(frame.payload), samples=len(pcm), note="underrun" if underrun else ""
        )

    async def _safe_send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed, DeviceError):
            await self.send_json(message)

    # ------------------------------------------------------------------ events

    def _record(self, direction: str, kind: str, **kw: Any) -> None:
        self.events.append(DeviceEvent(time.monotonic(), direction, kind, **kw))
        self._changed.set()
        self._changed = asyncio.Event()

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._record("local", "state", note=state)

    async def wait_for(
        self, predicate: Callable[[DeviceEvent], bool], timeout: float = 10.0, since: int = 0
    ) -> DeviceEvent:
        """The first event from index ``since`` that matches; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        index = since
        while True:
            while index < len(self.events):
                event = self.events[index]
                index += 1
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching device event")
            waiter = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), remaining)

    async def wait_json(
        self, type_: str, state: str | None = None, timeout: float = 10.0, since: int = 0
    ) -> DeviceEvent:
        def match(e: DeviceEvent) -> bool:
            m = e.message
            return (
                e.direction == "in"
                and e.kind == "json"
                and m is not None
                and m.get("type") == type_
                and (state is None or m.get("state") == state)
            )

        return await self.wait_for(match, timeout, since)

    def received(self, type_: str, state: str | None = None) -> list[DeviceEvent]:
        return [
            e
            for e in self.events
            if e.direction == "in"
            and e.kind == "json"
            and e.message is not None
            and e.message.get("type") == type_
            and (state is None or e.message.get("state") == state)
        ]

    def audio_events(self, kind: str = "audio") -> list[DeviceEvent]:
        return [e for e in self.events if e.kind == kind]

    # ------------------------------------------------------------------ results

    async def drain(self, margin: float = 0.05) -> None:
        """Wait until the decode queue has been 'played' (plus ``margin``)."""
        await asyncio.sleep(max(0.0, self._play_end - time.monotonic()) + margin)

    @property
    def downlink_sample_rate(self) -> int:
        return self._decoder.sample_rate if self._decoder else 24000

    def received_pcm(self) -> np.ndarray:
        """All downlink audio accepted so far, decoded (int16 mono at the server-hello rate)."""
        return np.concatenate(self._pcm) if self._pcm else np.zeros(0, dtype=np.int16)

    def write_wav(self, path: str | Path) -> Path:
        return write_wav(path, self.received_pcm(), self.downlink_sample_rate)

    def transcript(self) -> list[tuple[str, str]]:
        """("user", stt text) and ("assistant", sentence text) in arrival order."""
        lines: list[tuple[str, str]] = []
        for e in self.events:
            m = e.message
            if e.direction != "in" or m is None:
                continue
            if m.get("type") == "stt" and isinstance(m.get("text"), str):
                lines.append(("user", m["text"]))
            elif m.get("type") == "tts" and m.get("state") == "sentence_start":
                lines.append(("assistant", str(m.get("text", ""))))
        return lines
