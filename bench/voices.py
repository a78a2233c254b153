"""Synthetic speakers for the intent and endpointing benchmarks, 16 kHz int16, offline and deterministic:
espeak-ng Mandarin at several voices/pitches/speeds (Whisper cannot read it), the offline neural voice at
three speeds/pitches, and that voice through a room, 15 dB office noise, a phone line, or sox pitch/tempo."""

from __future__ import annotations

import re
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import signal

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


# --- the neural voice through a room, a noisy office, a phone line, or sox's pitch/tempo ---
def _seed(name: str, pcm: np.ndarray) -> int:
    """Deterministic per (voice, clip): the same text always gets the same noise/room."""
    return zlib.crc32(name.encode() + pcm[:4000].tobytes())


def reverb(pcm: np.ndarray, rt60_s: float = 0.45, wet: float = 0.5, seed: int = 0) -> np.ndarray:
    """A small room: a synthetic impulse response (exponentially decaying noise after a direct path and a
    few early reflections), RT60 ``rt60_s``."""
    rng = np.random.default_rng(seed)
    n = int(RATE * rt60_s)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # −60 dB at rt60
    tail[: int(0.005 * RATE)] = 0.0  # the tail starts after the direct sound
    ir = wet * tail / np.sqrt(np.sum(tail**2))
    ir[0] = 1.0
    for delay_ms, gain in ((7, 0.5), (13, 0.35), (21, 0.25)):
        ir[int(delay_ms * RATE / 1000)] += gain
    x = pcm.astype(np.float64)
    y = signal.fftconvolve(x, ir)[: len(x) + n // 2]
    return _to_int16(y * (np.max(np.abs(x)) / max(np.max(np.abs(y)), 1e-9)))


def add_noise(pcm: np.ndarray, snr_db: float = 15.0, seed: int = 0) -> np.ndarray:
    """Office-like background at ``snr_db`` (speech power over noise power): pink noise plus a low hum of
    "babble" (band-limited noise whose loudness wanders at syllable rate)."""
    rng = np.random.default_rng(seed)
    x = pcm.astype(np.float64)
    n = len(x)
    white = rng.standard_normal(n)
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(np.maximum(np.arange(n // 2 + 1), 1)), n)
    b, a = signal.butter(2, [300, 2500], btype="band", fs=RATE)
    babble = signal.lfilter(b, a, rng.standard_normal(n)) * (
        1 + 0.8 * np.sin(2 * np.pi * 4 * np.arange(n) / RATE + rng.uniform(0, 6.28))
    )
    noise = pink / np.std(pink) + 0.7 * babble / np.std(babble)
    speech_power = np.mean(x[np.abs(x) > 0.05 * np.max(np.abs(x))] ** 2)  # power while speaking
    noise *= np.sqrt(speech_power / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return _to_int16(x + noise)


def telephone(pcm: np.ndarray) -> np.ndarray:
    """A phone line: 300-3400 Hz, 8 kHz, light saturation."""
    sos = signal.butter(4, [300, 3400], btype="band", fs=RATE, output="sos")
    x = signal.sosfilt(sos, pcm.astype(np.float64))
    peak = max(np.max(np.abs(x)), 1e-9)
    x = np.tanh(1.5 * x / peak) / np.tanh(1.5) * 0.8 * 32767
    narrow = resample(_to_int16(x), RATE, 8000)
    return resample(narrow, 8000, RATE)


def sox_effect(pcm: np.ndarray, *effect: str) -> np.ndarray:
    """Run sox on 16 kHz mono int16 (e.g. ``"pitch", "-250", "tempo", "1.15"``)."""
    cmd = ["sox", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", "-", "-t", "raw", "-"]
    out = subprocess.run([*cmd, *effect], input=pcm.astype("<i2").tobytes(), capture_output=True, check=True)
    return np.frombuffer(out.stdout, dtype="<i2").astype(np.int16)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


@dataclass(frozen=True)
class EffectVoice:
    """A neural voice heard through an effect (``base`` is synthesized first, then changed)."""

    name: str
    base: NeuralVoice
    effect: str  # "reverb" | "noise15" | "phone" | "sox-low"

    def synthesize(self, text: str) -> np.ndarray:
        return self.apply(self.base.synthesize(text))

    def apply(self, pcm: np.ndarray) -> np.ndarray:
        seed = _seed(self.name, pcm)
        match self.effect:
            case "reverb":
                return reverb(pcm, seed=seed)
            case "noise15":
                return add_noise(pcm, 15.0, seed=seed)
            case "phone":
                return telephone(pcm)
            case "sox-low":  # a lower, deeper speaker talking faster: pitch and tempo moved independently
                return sox_effect(pcm, "pitch", "-300", "tempo", "-s", "1.15")
        raise ValueError(f"unknown effect {self.effect!r}")


EFFECT_VOICES = (
    EffectVoice("neural-room-reverb", NEURAL_VOICES[0], "reverb"),
    EffectVoice("neural-noise-15db", NEURAL_VOICES[0], "noise15"),
    EffectVoice("neural-telephone", NEURAL_VOICES[0], "phone"),
    EffectVoice("neural-sox-low-fast", NEURAL_VOICES[0], "sox-low"),
)


# --- a speaker who says English words in English (code-switching) ---
# The neural voice spells Latin text letter by letter in Chinese sounds ("help" → "爱吃意爱类皮"), which no
# person does. MixedVoice says each Latin run with flite (an offline English synthesizer, Debian's ``flite``)
# and the rest with the neural voice, joined with short gaps at one loudness: closer to how an engineer says
# "payment API 报错" or "rollback 一下". flite's voices are old diphone/cluster voices, so this is still a
# harder speaker than a person, and it is reported apart (bench/intents.py, ``latin_speaker``).
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9'\- _.]*[A-Za-z0-9]|[A-Za-z]")
_SPELLED = {"api": "A P I", "k8s": "K 8 S", "oom": "O O M", "cpu": "C P U", "ok": "O K"}
_SAID_IN_CHINESE = re.compile(r"[\u4e00-\u9fff0-9]")  # a run worth synthesizing (not punctuation only)


@dataclass(frozen=True)
class MixedVoice:
    name: str
    english: str  # flite voice: "slt" (female, clustergen) or "awb" (male)
    gap_s: float = 0.08

    def synthesize(self, text: str) -> np.ndarray:
        parts: list[np.ndarray] = []
        at = 0
        for m in _LATIN_RUN.finditer(text):
            if _SAID_IN_CHINESE.search(text[at : m.start()]):
                parts.append(NEURAL_VOICES[0].synthesize(text[at : m.start()]))
            parts.append(self._english(m.group()))
            at = m.end()
        if _SAID_IN_CHINESE.search(text[at:]):
            parts.append(NEURAL_VOICES[0].synthesize(text[at:]))
        parts = [p for p in parts if p.size]
        if not parts:
            return silence(0.1)
        loudest = max(float(np.max(np.abs(p.astype(np.float64)))) for p in parts)
        out: list[np.ndarray] = []
        for p in parts:  # every part at the loudness of the loudest (flite is quieter than the neural voice)
            x = p.astype(np.float64)
            out += [_to_int16(x * (0.9 * loudest / max(float(np.max(np.abs(x))), 1.0))), silence(self.gap_s)]
        return np.concatenate(out[:-1])

    def _english(self, run: str) -> np.ndarray:
        words = [_SPELLED.get(w.lower(), w) for w in re.split(r"[\s\-_.]+", run) if w]
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "en.wav"
            cmd = ["flite", "-voice", self.english, "-t", " ".join(words), "-o", str(wav)]
            subprocess.run(cmd, capture_output=True, check=True, timeout=30)
            pcm, rate = parse_wav(wav.read_bytes())
        return trim(resample(pcm, rate, RATE))


MIXED_VOICES = (MixedVoice("mixed-slt", "slt"), MixedVoice("mixed-awb", "awb"))
