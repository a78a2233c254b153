"""Audio checks shared by enrolment, identification and uploads: decode WAV bytes, reject unusable clips."""

from __future__ import annotations

import io
import wave

import numpy as np

SAMPLE_RATE = 16000
MAX_CLIP_SECONDS = 30.0


class AudioError(ValueError):
    """A clip that cannot be used for a voiceprint; the message says why, in words a user understands."""


def as_int16(pcm: np.ndarray | bytes | bytearray | memoryview) -> np.ndarray:
    """Raw little-endian int16 bytes or an array -> 1-D int16 array."""
    if isinstance(pcm, bytes | bytearray | memoryview):
        data = bytes(pcm)
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)
    arr = np.asarray(pcm)
    if arr.ndim != 1:
        raise AudioError(f"expected mono audio (1-D), got shape {arr.shape}")
    if arr.dtype != np.int16:
        if np.issubdtype(arr.dtype, np.floating):
            arr = np.clip(arr * 32767.0, -32768, 32767)
        arr = arr.astype(np.int16)
    return arr


def decode_wav(data: bytes, name: str = "clip") -> np.ndarray:
    """WAV file bytes -> mono int16 at 16 kHz. Raises AudioError with a clear message on anything else."""
    if not data:
        raise AudioError(f"{name}: empty file")
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a WAV file (expected RIFF/WAVE header)")
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            width, channels, rate, n = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.getnframes()
            frames = w.readframes(n)
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"{name}: unreadable WAV ({exc})") from exc
    if width != 2:
        raise AudioError(f"{name}: expected 16-bit PCM, got {8 * width}-bit")
    if not 8000 <= rate <= 48000:
        raise AudioError(f"{name}: unsupported sample rate {rate} Hz")
    pcm = np.frombuffer(frames[: len(frames) // (2 * channels) * 2 * channels], dtype="<i2")
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    if len(pcm) / rate > MAX_CLIP_SECONDS:
        raise AudioError(f"{name}: longer than {MAX_CLIP_SECONDS:.0f} s")
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly  # scipy comes with resemblyzer/librosa

        g = np.gcd(rate, SAMPLE_RATE)
        pcm = resample_poly(pcm.astype(np.float32), SAMPLE_RATE // g, rate // g)
    return np.clip(np.round(pcm), -32768, 32767).astype(np.int16)


def encode_wav(pcm: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """int16 mono -> WAV bytes (used by tests, benchmarks and the CLI)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())
    return buf.getvalue()
