"""Synthetic speakers for the intent and endpointing benchmarks: espeak-ng Mandarin at several voices,
pitches and speeds (offline, deterministic), 16 kHz int16."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from server.speech.tts import parse_wav, resample

if TYPE_CHECKING:
    from server.speech.neural_tts import NeuralTTS

RATE = 16000


@dataclass(frozen=True)
class Voice:
    name: str
    variant: str = ""  # espeak-ng voice variant: "", "+f2", "+m3", …
    pitch: int = 50  # 0-99
    speed: int = 160  # words per minute

    def synthesize(self, text: str) -> np.ndarray:
        voice = "cmn-latn-pinyin" + self.variant
        cmd = ["espeak-ng", "-v", voice, "-p", str(self.pitch), "-s", str(self.speed), "--stdin", "--stdout"]
        out = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=True, timeout=30)
        pcm, rate = parse_wav(out.stdout)
        return trim(resample(pcm, rate, RATE))


VOICES = (
    Voice("m-default"),
    Voice("f2-high-fast", "+f2", pitch=70, speed=185),
    Voice("m3-low-slow", "+m3", pitch=30, speed=135),
    Voice("f4-mid", "+f4", pitch=55, speed=160),
)


def trim(pcm: np.ndarray, threshold: int = 200) -> np.ndarray:
    """Drop leading and trailing silence (espeak-ng pads both ends)."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > threshold)
    return pcm[loud[0] : loud[-1] + 1] if loud.size else pcm


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(RATE * seconds), dtype=np.int16)


def with_pause(first: np.ndarray, second: np.ndarray, pause_s: float) -> np.ndarray:
    return np.concatenate([first, silence(pause_s), second])


@dataclass(frozen=True)
class NeuralVoice:
    """The offline neural voice (server.speech.neural_tts) at a speed, its pitch moved by resampling
    (``pitch`` 1.1 = 10 % higher and shorter, like a smaller speaker)."""

    name: str
    speed: float = 1.0
    pitch: float = 1.0

    def synthesize(self, text: str) -> np.ndarray:
        from server.speech.neural_tts import MODEL_RATE

        audio = _neural(self.speed).render(text)  # blocking, float32 at the model's rate
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        # resampling from a rate other than the true one moves pitch and tempo together
        pcm = resample(pcm, int(MODEL_RATE * self.pitch), RATE)
        return trim(pcm)


_engines: dict[float, NeuralTTS] = {}


def _neural(speed: float) -> NeuralTTS:
    from server.speech.neural_tts import NeuralTTS

    if speed not in _engines:
        engine = NeuralTTS(threads=1, speed=speed, cache_dir=None)
        engine.load()
        _engines[speed] = engine
    return _engines[speed]


NEURAL_VOICES = (
    NeuralVoice("neural-1.0"),
    NeuralVoice("neural-fast-high", speed=1.2, pitch=1.12),
    NeuralVoice("neural-slow-low", speed=0.85, pitch=0.9),
)
