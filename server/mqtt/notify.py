"""Server push to an idle MQTT device: ``notify`` (an Ogg-Opus URL + subtitles) or, for firmware without it,
``alert`` (reference §6.5, §3.2).

The audio is served from our HTTP port at ``/xiaozhi/notify/<token>.ogg``: the token is 192 random bits, the URL
works for ``notify_ttl_s`` and answers 404 afterwards or when guessed, and it never redirects (the firmware does
not follow redirects). The device sends no acknowledgement; its GET of the URL is the only evidence of receipt,
so every push is recorded as events: sent, audio fetched, streamed to the end, expired (never fetched).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from aiohttp import web

from firmware_bridge import protocol as P
from firmware_bridge.audio import resample
from firmware_bridge.ogg_opus import write_ogg_opus

log = logging.getLogger(__name__)

NOTIFY_PREFIX = "/xiaozhi/notify/"
NOTIFY_ROUTE = NOTIFY_PREFIX + "{name}"
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{32})\.ogg$")
CHUNK = 4096
SENTENCE_GAP_S = 0.25
OGG_RATE = 16000
NOTIFY_MIN_FIRMWARE = (2, 5, 0)  # PR #2191


class PushEvent(StrEnum):
    SENT = "sent"
    ALERT_SENT = "alert_sent"
    FETCHED = "fetched"
    STREAMED = "streamed"  # the whole file was written to the device
    INTERRUPTED = "interrupted"  # the device hung up mid-file
    EXPIRED = "expired"  # never fetched before the URL expired


@dataclass
class NotifyAudio:
    token: str
    data: bytes
    device_id: str
    case_id: int | None
    expires_at: float  # time.monotonic()
    fetched: int = 0
    streamed: bool = False
    subtitles: list[dict[str, object]] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"{NOTIFY_PREFIX}{self.token}.ogg"


@dataclass(frozen=True)
class PushRecord:
    event: PushEvent
    device_id: str
    case_id: int | None
    detail: dict[str, object]


Recorder = Callable[[PushRecord], None]


class NotifyAudioStore:
    """Short-lived notify files behind unguessable URLs (in memory: a push outlives no restart anyway)."""

    def __init__(self, ttl_s: float, record: Recorder | None = None, max_files: int = 256) -> None:
        self.ttl_s = ttl_s
        self.record = record or (lambda r: None)
        self.max_files = max_files
        self._files: dict[str, NotifyAudio] = {}

    def put(
        self, data: bytes, device_id: str, case_id: int | None, subtitles: list[dict[str, object]]
    ) -> NotifyAudio:
        self.sweep()
        while len(self._files) >= self.max_files:  # bounded: the oldest goes first
            self._expire(next(iter(self._files)))
        token = secrets.token_urlsafe(24)  # 32 characters, 192 bits
        item = NotifyAudio(
            token, data, device_id, case_id, time.monotonic() + self.ttl_s, subtitles=subtitles
        )
        self._files[token] = item
        return item

    def get(self, token: str) -> NotifyAudio | None:
        item = self._files.get(token)
        if item is not None and time.monotonic() >= item.expires_at:
            self._expire(token)
            return None
        return item

    def sweep(self) -> None:
        now = time.monotonic()
        for token in [t for t, f in self._files.items() if now >= f.expires_at]:
            self._expire(token)

    def _expire(self, token: str) -> None:
        item = self._files.pop(token, None)
        if item is not None and not item.fetched:
            self.record(PushRecord(PushEvent.EXPIRED, item.device_id, item.case_id, {"url": item.path}))

    def __len__(self) -> int:
        return len(self._files)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        match = _TOKEN.match(request.match_info.get("name", ""))
        item = self.get(match.group(1)) if match else None
        if item is None:
            raise web.HTTPNotFound(text="no such notification\n")
        item.fetched += 1
        first = item.fetched == 1
        if first:
            self.record(
                PushRecord(PushEvent.FETCHED, item.device_id, item.case_id, {"remote": request.remote or ""})
            )
        response = web.StreamResponse(headers={"Content-Type": "audio/ogg", "Cache-Control": "no-store"})
        response.content_length = len(item.data)
        await response.prepare(request)
        try:
            for offset in range(0, len(item.data), CHUNK):
                await response.write(item.data[offset : offset + CHUNK])
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.record(PushRecord(PushEvent.INTERRUPTED, item.device_id, item.case_id, {}))
            raise
        if not item.streamed:
            item.streamed = True
            self.record(
                PushRecord(PushEvent.STREAMED, item.device_id, item.case_id, {"bytes": len(item.data)})
            )
        return response

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get(NOTIFY_ROUTE, self.handle)


def firmware_has_notify(version: str | None) -> bool:
    if not version:
        return False
    try:
        parts = tuple(int(p) for p in version.split(".")[:3])
    except ValueError:
        return False
    return parts >= NOTIFY_MIN_FIRMWARE


def render_notify(sentences: list[tuple[str, np.ndarray, int]]) -> tuple[bytes, list[dict[str, object]]]:
    """Sentences of PCM → one mono Ogg-Opus file + subtitles at each sentence's start time."""
    parts: list[np.ndarray] = []
    subtitles: list[dict[str, object]] = []
    position = 0  # samples at OGG_RATE
    gap = np.zeros(int(SENTENCE_GAP_S * OGG_RATE), dtype=np.int16)
    for text, pcm, rate in sentences:
        audio = resample(np.asarray(pcm, dtype=np.int16), rate, OGG_RATE)
        subtitles.append({"start_ms": position * 1000 // OGG_RATE, "text": text})
        parts.extend((audio, gap))
        position += len(audio) + len(gap)
    pcm_all = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
    return write_ogg_opus(pcm_all, OGG_RATE), subtitles


Synthesize = Callable[[str], Awaitable[tuple[np.ndarray, int]]]
SendControl = Callable[[str, dict[str, object]], Awaitable[bool]]


class PushOutcome(StrEnum):
    NOTIFY = "notify"
    ALERT = "alert"
    OFFLINE = "offline"


class Pusher:
    """Push sentences to one MQTT-connected device: notify when its firmware plays it, else alert."""

    def __init__(
        self,
        store: NotifyAudioStore,
        send: SendControl,
        synthesize: Synthesize,
        base_url: Callable[[str], str],
        firmware: Callable[[str], str | None],
    ) -> None:
        self.store = store
        self.send = send
        self.synthesize = synthesize
        self.base_url = base_url  # device id → http://host:port (the address it used for OTA)
        self.firmware = firmware

    async def push(
        self,
        device_id: str,
        sentences: list[str],
        case_id: int | None = None,
        *,
        status: str = "告警",
        emotion: str = "sad",
    ) -> PushOutcome:
        if not firmware_has_notify(self.firmware(device_id)):
            message = "".join(sentences)[:200]
            if not await self.send(device_id, P.alert(status, message, emotion)):
                return PushOutcome.OFFLINE
            self.store.record(PushRecord(PushEvent.ALERT_SENT, device_id, case_id, {"message": message}))
            return PushOutcome.ALERT
        rendered = [(s, *(await self.synthesize(s))) for s in sentences if s.strip()]
        data, subtitles = await asyncio.to_thread(render_notify, rendered)
        item = self.store.put(data, device_id, case_id, subtitles)
        url = self.base_url(device_id) + item.path
        sent = await self.send(device_id, {"type": "notify", "audio_url": url, "subtitles": subtitles})
        if not sent:
            with contextlib.suppress(KeyError):
                self.store._files.pop(item.token)
            return PushOutcome.OFFLINE
        self.store.record(
            PushRecord(
                PushEvent.SENT,
                device_id,
                case_id,
                {"url": item.path, "bytes": len(data), "subtitles": [s["text"] for s in subtitles]},
            )
        )
        return PushOutcome.NOTIFY
