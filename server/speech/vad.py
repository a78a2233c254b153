"""Voice activity detection: Silero VAD (ONNX, run with onnxruntime) and a streaming endpointer.

The ONNX file ships inside the ``silero-vad`` wheel. We locate it through package metadata instead of
``import silero_vad``, because that import pulls in torch and sets torch to one thread for the whole
process (which slows resemblyzer down).

The endpointer is fed int16 16 kHz PCM in chunks of any size (xiaozhi sends 20/40/60 ms frames) and emits
``speech_start`` / ``speech_end`` events; ``speech_end`` carries the utterance PCM with a short pre-roll.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort

SAMPLE_RATE = 16000
WINDOW = 512  # samples per model step at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window prepended to each step, as the model expects
SILENT_RMS = 1e-4  # ≈ -80 dBFS: digital silence (DTX, muted mic) skips the model and counts as silence


def silero_onnx_path() -> Path:
    """Path of ``silero_vad.onnx`` inside the installed ``silero-vad`` distribution."""
    try:
        files = importlib.metadata.files("silero-vad") or []
    except importlib.metadata.PackageNotFoundError as e:
        raise RuntimeError("the silero-vad package is not installed") from e
    for f in files:
        if f.name == "silero_vad.onnx":
            return Path(str(f.locate()))
    raise RuntimeError("silero_vad.onnx not found in the silero-vad package")


class SileroModel:
    """The ONNX session; shared by all streams (each stream keeps its own recurrent state)."""

    def __init__(self, path: Path | None = None, threads: int = 1):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.path = path or silero_onnx_path()
        self._session = ort.InferenceSession(
            str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    @staticmethod
    def initial_state() -> np.ndarray:
        return np.zeros((2, 1, 128), dtype=np.float32)

    def step(self, window: np.ndarray, context: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        """Speech probability of one 512-sample float32 window; returns (probability, new state)."""
        x = np.concatenate([context, window])[None, :]
        out, new_state = self._session.run(None, {"input": x, "state": state, "sr": self._sr})
        return float(out[0, 0]), new_state


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5  # probability that starts speech
    silence_ms: int = 400  # this much silence ends an utterance (unless the dialogue asks to hold)
    hold_silence_ms: int = 1300  # adaptive: a pause after words that announce more (or before a verdict)
    unsure_silence_ms: int = 900  # adaptive: words that are neither a known command nor announce more
    min_speech_ms: int = 200  # shorter bursts (clicks, coughs) are ignored
    pad_ms: int = 300  # audio kept before the detected start (the model reacts a little late)
    max_speech_s: float = 30.0  # force an end so one endless utterance cannot block the turn

    @property
    def neg_threshold(self) -> float:
        """Hysteresis: once in speech, only clearly lower probabilities count as silence."""
        return max(0.01, self.threshold - 0.15)


@dataclass(frozen=True)
class VadEvent:
    kind: Literal["speech_start", "speech_end"]
    start_ms: int  # stream position of the speech start (ms since the endpointer started/reset)
    end_ms: int | None = None  # speech_end: position of the last speech
    pcm: np.ndarray | None = field(default=None, repr=False)  # speech_end: int16 utterance incl. pre-roll
    forced: bool = False  # speech_end because of max_speech_s or flush, not silence


class Endpointer:
    """Streaming endpointer for one audio stream. Not thread-safe; one per device connection."""

    def __init__(self, model: SileroModel, config: VadConfig | None = None):
        self.model = model
        self.config = config or VadConfig()
        self.reset()

    def reset(self) -> None:
        self._state = self.model.initial_state()
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.int16)  # samples not yet forming a full window
        self._pos = 0  # samples consumed by the model so far
        pad_windows = max(1, round(self.config.pad_ms * SAMPLE_RATE / 1000 / WINDOW))
        self._preroll: deque[np.ndarray] = deque(maxlen=pad_windows)
        self._candidate: int | None = None  # window start where a possible utterance began
        self._speech: list[np.ndarray] = []
        self._in_speech = False
        self._start = 0
        self._last_speech_end = 0
        self._silence_from: int | None = None
        self._required_silence_ms: int | None = None  # this pause only; None = config.silence_ms
        self.last_probability = 0.0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def position_ms(self) -> int:
        return self._ms(self._pos)

    @property
    def silence_started_ms(self) -> int | None:
        """Inside an utterance: where the current trailing silence began (None while voiced)."""
        return self._ms(self._silence_from) if self._in_speech and self._silence_from is not None else None

    @property
    def trailing_silence_ms(self) -> int:
        """How long the current utterance has been silent (0 while voiced or outside speech)."""
        if not self._in_speech or self._silence_from is None:
            return 0
        return self._ms(self._pos - self._silence_from)

    @property
    def required_silence_ms(self) -> int:
        """The silence that will end the current pause (adaptive endpointing may change it per pause)."""
        return self.config.silence_ms if self._required_silence_ms is None else self._required_silence_ms

    def require_silence(self, ms: int) -> None:
        """For the current pause only: end the utterance after ``ms`` of silence (speech resets it)."""
        if self.silence_started_ms is not None:
            self._required_silence_ms = max(0, int(ms))

    def end_now(self) -> VadEvent | None:
        """End the open utterance in its current pause (the words so far are a finished request)."""
        if self.silence_started_ms is None:
            return None
        return self._end(self._last_speech_end, forced=False)

    def utterance_so_far(self) -> np.ndarray:
        """The open utterance's audio (pre-roll included) — for speculative recognition during the silence."""
        return np.concatenate(self._speech) if self._speech else np.zeros(0, dtype=np.int16)

    def feed(self, pcm: np.ndarray) -> list[VadEvent]:
        """Feed int16 mono 16 kHz samples (any length, empty allowed); returns the events they caused."""
        if pcm.size == 0:
            return []
        if pcm.dtype != np.int16:
            raise ValueError(f"expected int16 PCM, got {pcm.dtype}")
        data = np.concatenate([self._pending, pcm.reshape(-1)])
        n = len(data) // WINDOW * WINDOW
        self._pending = data[n:].copy()
        events: list[VadEvent] = []
        for i in range(0, n, WINDOW):
            events.extend(self._window(data[i : i + WINDOW]))
        return events

    def feed_silence(self, ms: int) -> list[VadEvent]:
        """Advance time without audio (e.g. DTX frames the transport did not decode)."""
        return self.feed(np.zeros(int(SAMPLE_RATE * ms / 1000), dtype=np.int16))

    def flush(self) -> list[VadEvent]:
        """End of stream (e.g. ``listen stop``): close an open utterance."""
        events = []
        if self._pending.size:
            pad = np.zeros(WINDOW - self._pending.size, dtype=np.int16)
            events.extend(self.feed(pad))
        if self._in_speech:
            events.append(self._end(self._pos, forced=True))
        self._candidate = None
        return events

    # -- internals --
    def _ms(self, samples: int) -> int:
        return samples * 1000 // SAMPLE_RATE

    def _window(self, chunk: np.ndarray) -> list[VadEvent]:
        cfg = self.config
        x = chunk.astype(np.float32) / 32768.0
        start = self._pos
        self._pos += WINDOW
        if float(np.sqrt(np.mean(x * x))) < SILENT_RMS:
            prob = 0.0  # keep the recurrent state: the model never saw this silence, which is fine
        else:
            prob, self._state = self.model.step(x, self._context, self._state)
        self._context = x[-CONTEXT:]
        self.last_probability = prob

        if not self._in_speech:
            if prob >= cfg.threshold:
                if self._candidate is None:
                    self._candidate = start
                    self._speech = list(self._preroll)
                self._speech.append(chunk)
                if self._pos - self._candidate >= cfg.min_speech_ms * SAMPLE_RATE // 1000:
                    self._in_speech = True
                    self._start = self._candidate
                    self._silence_from = None
                    self._last_speech_end = self._pos
                    return [VadEvent("speech_start", self._ms(self._start))]
            elif self._candidate is not None and prob >= cfg.neg_threshold:
                self._speech.append(chunk)  # ambiguous window inside a candidate: keep it, don't decide
            else:
                self._candidate = None
                self._speech = []
                self._preroll.append(chunk)
            return []

        self._speech.append(chunk)
        if prob >= cfg.neg_threshold:
            self._silence_from = None
            self._required_silence_ms = None
            self._last_speech_end = self._pos
        elif self._silence_from is None:
            self._silence_from = start
        if (
            self._silence_from is not None
            and self._pos - self._silence_from >= self.required_silence_ms * SAMPLE_RATE // 1000
        ):
            return [self._end(self._last_speech_end, forced=False)]
        if self._pos - self._start >= cfg.max_speech_s * SAMPLE_RATE:
            return [self._end(self._pos, forced=True)]
        return []

    def _end(self, end: int, forced: bool) -> VadEvent:
        pcm = np.concatenate(self._speech) if self._speech else np.zeros(0, dtype=np.int16)
        # keep pad_ms of audio after the last speech window, drop the rest of the trailing silence
        drop = (self._pos - end) - self.config.pad_ms * SAMPLE_RATE // 1000
        if drop > 0:
            pcm = pcm[: max(0, len(pcm) - drop)]
        event = VadEvent("speech_end", self._ms(self._start), self._ms(end), pcm, forced)
        self._in_speech = False
        self._candidate = None
        self._speech = []
        self._preroll.clear()
        self._silence_from = None
        self._required_silence_ms = None
        return event


@dataclass(frozen=True)
class SpeechSegment:
    start_s: float
    end_s: float


_shared_model: SileroModel | None = None
_shared_lock = threading.Lock()


def shared_model() -> SileroModel:
    """A process-wide SileroModel, created on first use."""
    global _shared_model
    with _shared_lock:
        if _shared_model is None:
            _shared_model = SileroModel()
        return _shared_model


def speech_segments(
    pcm: np.ndarray, config: VadConfig | None = None, model: SileroModel | None = None
) -> list[SpeechSegment]:
    """Offline helper: the speech segments of a whole int16 16 kHz recording, in seconds."""
    ep = Endpointer(model or shared_model(), config)
    segments = []
    for ev in [*ep.feed(pcm), *ep.flush()]:
        if ev.kind == "speech_end":
            segments.append(SpeechSegment(ev.start_ms / 1000, (ev.end_ms or ev.start_ms) / 1000))
    return segments
