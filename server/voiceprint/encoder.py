"""Resemblyzer speaker encoder: loaded once, warmed at start-up, thread-safe.

Two choices differ from ``resemblyzer.VoiceEncoder.embed_utterance`` and were measured on the shared test voices
(see bench/voiceprint.py and the report in the voiceprint README section):

* windows shorter than 1.6 s are *not* zero-padded: the LSTM's last hidden state is the embedding, and trailing
  padding drags it toward "silence" (short commands scored 0.79 padded vs 0.81+ unpadded against their owner);
* we keep the per-window ("partial") embeddings, because the median window score is a steadier speaker score than
  the cosine of the averaged embedding (see ``scoring.py``).

``analyse`` also measures the clip's median pitch (``pitch.py``, a few ms), the second check behind the embedding.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from server.voiceprint.audio import SAMPLE_RATE, AudioError, as_int16
from server.voiceprint.pitch import median_pitch

log = logging.getLogger(__name__)

WINDOW_FRAMES = 160  # 1.6 s of 10 ms mel frames, what the model was trained on
HOP_FRAMES = 80  # 50 % overlap
MIN_SPEECH_S = 0.6  # after silence trimming; below this the embedding is noise
MIN_RMS_DBFS = -55.0  # quieter than this is silence, not a quiet speaker


@dataclass(frozen=True)
class Utterance:
    """What the encoder extracts from one clip: per-window embeddings, their normalised mean, and the pitch."""

    partials: np.ndarray  # (n_windows, 256) float32, each L2-normalised
    vector: np.ndarray  # (256,) float32, L2-normalised mean of the windows
    speech_s: float  # seconds of speech left after trimming silence
    pitch_hz: float | None = None  # median F0 of the voiced frames; None when too little is voiced


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def window_starts(n_frames: int) -> list[tuple[int, int]]:
    """(start, stop) mel-frame ranges covering the clip without padding; a short clip is one shorter window."""
    if n_frames <= WINDOW_FRAMES:
        return [(0, n_frames)]
    starts = list(range(0, n_frames - WINDOW_FRAMES + 1, HOP_FRAMES))
    if starts[-1] + WINDOW_FRAMES < n_frames:
        starts.append(n_frames - WINDOW_FRAMES)  # cover the tail with a full window
    return [(s, s + WINDOW_FRAMES) for s in starts]


class VoiceEncoder:
    """Wraps resemblyzer's model. ``embed``/``analyse`` may be called from several threads."""

    def __init__(self, threads: int | None = 1) -> None:
        import torch
        from resemblyzer import VoiceEncoder as _Model

        # torch's thread count is process-wide. One thread is faster for this small LSTM on short clips than two
        # (bench/voiceprint.py measures both) and leaves the other core to ASR, which runs at the same time.
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self._model = _Model("cpu", verbose=False)
        self._model.eval()
        self._lock = threading.Lock()
        self.warm = False

    def warmup(self) -> float:
        """Run preprocess + embed once on a synthetic voiced clip so numba JIT happens now, not in a turn."""
        t0 = time.perf_counter()
        t = np.arange(int(2.5 * SAMPLE_RATE)) / SAMPLE_RATE
        # a harmonic tone with a syllable-rate envelope: webrtcvad treats it as speech, so every stage runs
        f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        tone = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2)
        self.analyse((tone / np.abs(tone).max() * 8000).astype(np.int16))
        self.warm = True
        elapsed = time.perf_counter() - t0
        log.info("voiceprint encoder warmed in %.1f s", elapsed)
        return elapsed

    def preprocess(self, pcm: np.ndarray | bytes) -> np.ndarray:
        """int16 16 kHz -> float waveform with volume normalised and long silences removed (resemblyzer)."""
        from resemblyzer import preprocess_wav

        samples = as_int16(pcm).astype(np.float32) / 32768.0
        if samples.size < int(MIN_SPEECH_S * SAMPLE_RATE):
            raise AudioError(
                f"too short: {samples.size / SAMPLE_RATE:.2f} s of audio (need ≥ {MIN_SPEECH_S} s of speech)"
            )
        rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
        if rms <= 0 or 20 * np.log10(rms) < MIN_RMS_DBFS:
            raise AudioError("no speech: the clip is silent")
        wav = preprocess_wav(samples)
        if wav.size < int(MIN_SPEECH_S * SAMPLE_RATE):
            raise AudioError(f"no speech: only {wav.size / SAMPLE_RATE:.2f} s of voice found")
        return wav.astype(np.float32)

    def analyse(self, pcm: np.ndarray | bytes) -> Utterance:
        """Per-window embeddings of one clip (16 kHz mono int16). Raises AudioError for unusable audio."""
        from resemblyzer.audio import wav_to_mel_spectrogram

        wav = self.preprocess(pcm)
        mel = wav_to_mel_spectrogram(wav)
        windows = window_starts(len(mel))
        batch = np.stack([mel[a:b] for a, b in windows])  # equal lengths: one window, or all full-size
        with self._lock, self._torch.inference_mode():
            partials = self._model(self._torch.from_numpy(batch)).numpy().astype(np.float32)
        return Utterance(
            partials=partials,
            vector=_unit(partials.mean(axis=0)),
            speech_s=wav.size / SAMPLE_RATE,
            pitch_hz=median_pitch(wav),
        )

    def embed(self, pcm: np.ndarray | bytes) -> np.ndarray:
        """L2-normalised 256-d speaker embedding of one clip."""
        return self.analyse(pcm).vector


_shared: VoiceEncoder | None = None
_shared_lock = threading.Lock()


def get_encoder(threads: int | None = 1) -> VoiceEncoder:
    """The process-wide encoder (the model is 17 MB and needs warming once)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = VoiceEncoder(threads=threads)
        return _shared
