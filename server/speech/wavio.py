"""Read/write 16-bit mono WAV files as int16 arrays (tests, benchmarks, console uploads)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def read_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """(mono int16 samples, sample rate). Stereo is averaged to mono; only 16-bit PCM is accepted."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * w.getsampwidth()}-bit")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        channels, rate = w.getnchannels(), w.getframerate()
    if channels > 1:
        pcm = pcm[: len(pcm) // channels * channels].reshape(-1, channels).mean(axis=1)
    return pcm.astype(np.int16), rate


def write_wav(path: Path | str, pcm: np.ndarray, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())
