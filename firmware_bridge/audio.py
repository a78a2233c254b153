"""Audio utilities for the device side: Opus encode/decode per frame, WAV I/O, resampling, espeak-ng.

PCM everywhere is mono ``int16`` numpy arrays.
"""

from __future__ import annotations

import struct
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import opuslib

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
FRAME_MS = (20, 40, 60)
MAX_FRAME_MS = 120  # largest Opus packet duration; bounds the decode buffer


class AudioError(ValueError):
    pass


def frame_samples(sample_rate: int, frame_ms: int) -> int:
    return sample_rate * frame_ms // 1000


def as_int16(pcm: np.ndarray) -> np.ndarray:
    """Mono int16 view of ``pcm``; floats in [-1, 1] are scaled, extra channels averaged."""
    a = np.asarray(pcm)
    if a.ndim == 2:
        a = a.mean(axis=1)
    if a.dtype.kind == "f":
        return np.clip(np.round(a * 32767.0), -32768, 32767).astype(np.int16)
    return a.astype(np.int16, copy=False)


def split_frames(pcm: np.ndarray, sample_rate: int, frame_ms: int) -> Iterator[np.ndarray]:
    """Fixed-size frames; the last one is zero-padded (Opus only encodes whole frames)."""
    n = frame_samples(sample_rate, frame_ms)
    pcm = as_int16(pcm)
    for start in range(0, len(pcm), n):
        frame = pcm[start : start + n]
        if len(frame) < n:
            frame = np.concatenate([frame, np.zeros(n - len(frame), dtype=np.int16)])
        yield frame


class OpusEncoder:
    """One mono Opus stream with a fixed frame duration (20, 40 or 60 ms)."""

    def __init__(
        self,
        sample_rate: int = 16000,
        frame_ms: int = 60,
        *,
        application: str = "voip",
        dtx: bool = False,
        bitrate: int | None = None,
        complexity: int | None = None,
    ) -> None:
        if sample_rate not in OPUS_RATES:
            raise AudioError(f"Opus does not support {sample_rate} Hz")
        if frame_ms not in FRAME_MS:
            raise AudioError(f"unsupported Opus frame duration {frame_ms} ms")
        app = opuslib.APPLICATION_VOIP if application == "voip" else opuslib.APPLICATION_AUDIO
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.frame_size = frame_samples(sample_rate, frame_ms)
        self._enc = opuslib.Encoder(sample_rate, 1, app)
        if dtx:
            self._enc.dtx = 1
        if bitrate:
            self._enc.bitrate = bitrate
        if complexity is not None:
            self._enc.complexity = complexity

    def encode(self, frame: np.ndarray) -> bytes:
        frame = as_int16(frame)
        if len(frame) != self.frame_size:
            raise AudioError(f"frame has {len(frame)} samples, expected {self.frame_size}")
        packet: bytes = self._enc.encode(frame.astype("<i2").tobytes(), self.frame_size)
        return packet

    def encode_pcm(self, pcm: np.ndarray) -> list[bytes]:
        return [self.encode(f) for f in split_frames(pcm, self.sample_rate, self.frame_ms)]


class OpusDecoder:
    """Decodes packets of any duration (2.5-120 ms) at ``sample_rate``."""

    def __init__(self, sample_rate: int = 16000) -> None:
        if sample_rate not in OPUS_RATES:
            raise AudioError(f"Opus does not support {sample_rate} Hz")
        self.sample_rate = sample_rate
        self._dec = opuslib.Decoder(sample_rate, 1)
        self._max = frame_samples(sample_rate, MAX_FRAME_MS)

    def decode(self, packet: bytes) -> np.ndarray:
        """Raise AudioError on a corrupt packet. An empty packet decodes to nothing (not concealment)."""
        if not packet:
            return np.zeros(0, dtype=np.int16)
        try:
            raw = self._dec.decode(bytes(packet), self._max)
        except opuslib.OpusError as exc:
            raise AudioError(f"corrupt Opus packet ({len(packet)} bytes): {exc}") from None
        return np.frombuffer(raw, dtype="<i2").astype(np.int16)

    def reset(self) -> None:
        self._dec = opuslib.Decoder(self.sample_rate, 1)


def encode_opus(pcm: np.ndarray, sample_rate: int = 16000, frame_ms: int = 60) -> list[bytes]:
    return OpusEncoder(sample_rate, frame_ms).encode_pcm(pcm)


def decode_opus(packets: list[bytes], sample_rate: int = 16000) -> np.ndarray:
    dec = OpusDecoder(sample_rate)
    parts = [dec.decode(p) for p in packets]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


# --------------------------------------------------------------------------- resampling


def resample(pcm: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Linear-interpolation resampling with a moving-average low-pass when downsampling.

    Good enough for speech between 16/22.05/24/48 kHz; not a mastering-grade filter."""
    pcm = as_int16(pcm)
    if src_rate == dst_rate or len(pcm) == 0:
        return pcm.copy()
    x = pcm.astype(np.float64)
    if dst_rate < src_rate:
        k = int(np.ceil(src_rate / dst_rate))
        if k > 1:
            x = np.convolve(x, np.ones(k) / k, mode="same")
    n_out = round(len(x) * dst_rate / src_rate)
    t = np.arange(n_out) * (src_rate / dst_rate)
    y: np.ndarray = np.interp(t, np.arange(len(x)), x)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------- WAV


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono int16 PCM and its sample rate (16-bit PCM WAV; stereo is averaged)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise AudioError(f"{path}: only 16-bit PCM WAV is supported")
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return data, rate


def write_wav(path: str | Path, pcm: np.ndarray, sample_rate: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(as_int16(pcm).astype("<i2").tobytes())
    return path


def parse_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Parse a streamed WAV (as ``espeak-ng --stdout`` writes it, with bogus RIFF/data sizes)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a RIFF/WAVE stream")
    pos, rate, channels, bits = 12, 0, 1, 16
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
        elif cid == b"data":
            if bits != 16 or not rate:
                raise AudioError("WAV stream is not 16-bit PCM")
            payload = data[body:]  # size is unreliable for streamed output: take the rest
            payload = payload[: len(payload) - len(payload) % (2 * channels)]
            pcm = np.frombuffer(payload, dtype="<i2").astype(np.int16)
            if channels > 1:
                pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
            return pcm, rate
        pos = body + size + (size & 1)
    raise AudioError("WAV stream has no data chunk")


# --------------------------------------------------------------------------- synthesis


def espeak_pcm(
    text: str, *, voice: str = "cmn-latn-pinyin", sample_rate: int = 16000, timeout: float = 20.0
) -> np.ndarray:
    """Speak ``text`` with espeak-ng and return mono int16 PCM at ``sample_rate``."""
    try:
        proc = subprocess.run(
            ["espeak-ng", "-v", voice, "--stdout", text],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise AudioError("espeak-ng is not installed") from None
    if proc.returncode != 0:
        raise AudioError(f"espeak-ng failed: {proc.stderr.decode(errors='replace').strip()}")
    pcm, rate = parse_wav_bytes(proc.stdout)
    return resample(pcm, rate, sample_rate)


def tone(freq: float, seconds: float, sample_rate: int = 16000, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return as_int16(amplitude * np.sin(2 * np.pi * freq * t))


def silence(seconds: float, sample_rate: int = 16000) -> np.ndarray:
    return np.zeros(round(seconds * sample_rate), dtype=np.int16)
