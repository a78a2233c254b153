"""Test helpers for spoken end-to-end flows: the shared neural voice as an owner, digits spoken in that voice."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from firmware_bridge.audio import read_wav
from firmware_bridge.virtual_device import VirtualDevice
from tests.paths import COMMANDS

CN_DIGITS = "零一二三四五六七八九"
RATE = 16000


def command(name: str) -> np.ndarray:
    pcm, rate = read_wav(COMMANDS / name)
    assert rate == RATE
    return pcm


def enrolment_clips() -> list[np.ndarray]:
    return [command(f"enroll_phrase_{i}.wav") for i in (1, 2, 3)]


@lru_cache(maxsize=1)
def _digit_cuts(model_dir: str) -> dict[str, tuple[int, int]]:
    """Where each of 一…十 is said in enroll_phrase_3.wav ("一二三四五六七八九十"), from Whisper word timestamps."""
    from faster_whisper import WhisperModel

    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=2)
    pcm = command("enroll_phrase_3.wav")
    segments, _ = model.transcribe(
        pcm.astype(np.float32) / 32768,
        language="zh",
        word_timestamps=True,
        temperature=0,
        hotwords="一二三四五六七八九十",
    )
    cuts = {}
    for seg in segments:
        for w in seg.words:
            ch = w.word.strip()
            if ch in CN_DIGITS or ch == "十":
                cuts[ch] = (int(w.start * RATE), int(w.end * RATE))
    return cuts


def one_to_nine(model_dir: str) -> np.ndarray:
    """The owner saying "一二三四五六七八九": their recorded 一…十, cut where Whisper places 十.

    Cut before 十, not earlier: word timestamps move by tens of milliseconds from one CPU to another (int8
    kernels), and only this cut leaves a margin on both sides. Cut anywhere from 1.60 s to 1.75 s, the clip still
    reads "123456789" and matches the owner's voice and pitch band after Opus. Cut before 七 (the earlier
    "一二三四五六"), it passed only between 1.05 s and 1.08 s: on an AMD EPYC Whisper put 七 at 1.00 s, where the
    clip's pitch (+3.85 st) fell outside the owner's band (±3.7 st)."""
    cuts = _digit_cuts(model_dir)
    pcm = command("enroll_phrase_3.wav")
    pad = np.zeros(int(0.2 * RATE), dtype=np.int16)
    return np.concatenate([pad, pcm[: cuts["十"][0]], pad])


def challenge_digits(texts: list[str]) -> str | None:
    for t in texts:
        m = re.search(r"数字：([零一二三四五六七八九 ]+)", t)
        if m:
            return "".join(str(CN_DIGITS.index(c)) for c in m.group(1) if c in CN_DIGITS)
    return None


async def speak(device: VirtualDevice, pcm: np.ndarray, timeout: float = 120) -> list[str]:
    """Say something and return the sentences of the answer (waits for its tts stop).

    The wait is generous: one turn takes seconds here, but a loaded CI machine running Whisper and the
    voiceprint model once ran past 60 s. When no answer comes, the failure lists what the device did receive.
    """
    since = len(device.events)
    await device.send_pcm(np.concatenate([pcm, np.zeros(RATE, dtype=np.int16)]), RATE, realtime=False)
    try:
        await device.wait_json("tts", "stop", timeout=timeout, since=since)
    except TimeoutError:
        got = [e.message for e in device.events[since:] if e.direction == "in" and e.message]
        raise AssertionError(f"no spoken answer within {timeout:.0f} s; the device received {got}") from None
    return [
        e.message["text"]
        for e in device.events[since:]
        if e.message and e.message.get("state") == "sentence_start"
    ]
