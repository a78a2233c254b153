"""Downlink pacer: turns sentences of PCM into the paced ``tts`` + Opus stream the firmware can play.

Why pacing: the firmware's decode queue is bounded (40 packets, 20 on 2.5.x) and drops what does not fit,
and a ``tts start`` resets the decoder a moment after it arrives (reference §2). So: ``tts start``, a gap of
≥50 ms, then per sentence ``sentence_start`` + Opus frames, a few frames ahead and then one frame per frame
duration on an absolute schedule (no drift), and ``tts stop`` only once the device has played everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed

from firmware_bridge import protocol as P
from firmware_bridge.audio import OpusEncoder, resample, split_frames
from server.voice import metrics
from server.voice.channel import PlayResult, SpeechChunk

log = logging.getLogger(__name__)

SendJson = Callable[[dict[str, Any]], Awaitable[None]]
SendBinary = Callable[[bytes], Awaitable[None]]


@dataclass
class PacerStats:
    """Timing of one ``play`` as the server saw it."""

    frames: int = 0
    sentences: int = 0
    started_at: float | None = None  # tts start sent
    first_frame_at: float | None = None
    stopped_at: float | None = None  # tts stop sent
    max_lateness_s: float = 0.0  # worst delay of a frame behind its scheduled send time
    max_ahead_frames: float = 0.0  # worst estimated device queue depth right after a send
    underruns: int = 0  # the device queue ran dry mid-play (producer slower than real time)
    aborted: bool = False


class _Aborted(Exception):
    pass


_END = object()


class DownlinkPacer:
    def __init__(
        self,
        send_json: SendJson,
        send_binary: SendBinary,
        *,
        sample_rate: int = 16000,
        frame_ms: int = 60,
        protocol_version: int = 1,
        prebuffer_frames: int = 5,
        start_gap_s: float = 0.06,
        tail_margin_s: float = 0.05,
    ) -> None:
        self._send_json = send_json
        self._send_binary = send_binary
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.protocol_version = protocol_version
        self.prebuffer_frames = prebuffer_frames
        self.start_gap_s = max(start_gap_s, 0.05)
        self.tail_margin_s = tail_margin_s
        self.stats = PacerStats()  # of the last (or current) play
        self._lock = asyncio.Lock()
        self._abort = asyncio.Event()
        self._done = asyncio.Event()
        self._done.set()

    @property
    def speaking(self) -> bool:
        return not self._done.is_set()

    def stop(self) -> None:
        """Ask the current play to stop at once (it still sends ``tts stop``)."""
        self._abort.set()

    async def stop_and_wait(self) -> None:
        self._abort.set()
        await self._done.wait()

    async def play(self, chunks: AsyncIterator[SpeechChunk], emotion: str | None = None) -> PlayResult:
        async with self._lock:  # one utterance at a time per device
            self._abort = asyncio.Event()
            self._done.clear()
            self.stats = stats = PacerStats()
            stopped = False
            try:
                if emotion:
                    await self._send_json(P.llm_emotion(emotion))
                await self._send_json(P.tts_start())
                stats.started_at = time.monotonic()
                await self._sleep_or_abort(self.start_gap_s)
                play_end = await self._stream(chunks, stats)
                await self._sleep_or_abort(play_end + self.tail_margin_s - time.monotonic())
            except _Aborted:
                stats.aborted = True
            except ConnectionClosed:
                stats.aborted = True
                stopped = True  # nobody to tell
            except asyncio.CancelledError:
                stats.aborted = True
                await self._tts_stop(stats)
                raise
            finally:
                if not stopped and stats.stopped_at is None:
                    await self._tts_stop(stats)
                self._done.set()
            return PlayResult(stats.frames, stats.aborted, stats.first_frame_at)

    async def _tts_stop(self, stats: PacerStats) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send_json(P.tts_stop())
        stats.stopped_at = time.monotonic()

    async def _stream(self, chunks: AsyncIterator[SpeechChunk], stats: PacerStats) -> float:
        """Send every sentence; return the monotonic time the device will have played it all."""
        frame_s = self.frame_ms / 1000
        lead_s = self.prebuffer_frames * frame_s
        encoder = OpusEncoder(self.sample_rate, self.frame_ms, application="audio", complexity=5)
        play_end = 0.0  # when the device's queue runs empty, as far as we can tell
        it = aiter(chunks)
        while True:
            chunk = await self._next_or_abort(it)
            if chunk is _END:
                return play_end
            assert isinstance(chunk, SpeechChunk)
            await self._send_json(P.sentence_start(chunk.text))
            stats.sentences += 1
            pcm = resample(chunk.pcm, chunk.sample_rate, self.sample_rate)
            for frame in split_frames(pcm, self.sample_rate, self.frame_ms):
                packet = encoder.encode(frame)
                now = time.monotonic()
                if play_end < now:
                    if stats.frames:
                        stats.underruns += 1
                    play_end = now  # queue empty: start a new pre-buffer from here
                send_at = play_end + frame_s - lead_s  # at most prebuffer_frames queued after this send
                if send_at > now:
                    await self._sleep_or_abort(send_at - now)
                    stats.max_lateness_s = max(stats.max_lateness_s, time.monotonic() - send_at)
                elif self._abort.is_set():
                    raise _Aborted
                position_ms = stats.frames * self.frame_ms  # v2 timestamp, used by server-side AEC
                await self._send_binary(P.encode_frame(packet, self.protocol_version, position_ms))
                sent = time.monotonic()
                if stats.first_frame_at is None:
                    stats.first_frame_at = sent
                stats.frames += 1
                metrics.FRAMES_OUT.inc()
                play_end += frame_s
                stats.max_ahead_frames = max(stats.max_ahead_frames, (play_end - sent) / frame_s)

    async def _sleep_or_abort(self, delay: float) -> None:
        if self._abort.is_set():
            raise _Aborted
        if delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._abort.wait(), delay)
        if self._abort.is_set():
            raise _Aborted

    async def _next_or_abort(self, it: AsyncIterator[SpeechChunk]) -> object:
        if self._abort.is_set():
            raise _Aborted
        nxt: asyncio.Future[SpeechChunk] = asyncio.ensure_future(anext(it))
        stop: asyncio.Future[Any] = asyncio.ensure_future(self._abort.wait())
        try:
            await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not nxt.done():
                nxt.cancel()
        if nxt.done() and not nxt.cancelled():
            try:
                return nxt.result()
            except StopAsyncIteration:
                return _END
        raise _Aborted


async def chunks_from(items: list[SpeechChunk]) -> AsyncIterator[SpeechChunk]:
    """Adapt a list of ready sentences to the async iterator ``play`` takes."""
    for item in items:
        yield item
