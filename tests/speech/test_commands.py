"""Acceptance: real VAD + real Whisper + the intent matcher on every recorded command."""

from __future__ import annotations

import re

import numpy as np
import pytest
import zhconv

from server.intent.matcher import match_intent
from server.speech.asr import WhisperASR
from server.speech.vad import Endpointer, SileroModel, VadConfig
from tests.speech.audio import cer, command, silence, transcripts
from tests.speech.expected import EXPECTED, TODAY, intent_ok

FRAME = 960  # xiaozhi uplink: 60 ms frames at 16 kHz
_HAN = re.compile(r"[\u4e00-\u9fff]")


def utterances(vad_model: SileroModel, pcm: np.ndarray) -> list[np.ndarray]:
    """Stream the recording (with silence around it) through the endpointer as a device would."""
    ep = Endpointer(vad_model, VadConfig(threshold=0.5, silence_ms=400))
    stream = np.concatenate([silence(0.6), pcm, silence(1.0)])
    events = []
    for i in range(0, len(stream), FRAME):
        events += ep.feed(stream[i : i + FRAME])
    events += ep.flush()
    return [e.pcm for e in events if e.kind == "speech_end"]


@pytest.fixture(scope="module")
def results(whisper: WhisperASR, vad_model: SileroModel) -> dict[str, tuple[str, object]]:
    out = {}
    for name in EXPECTED:
        segments = utterances(vad_model, command(name))
        assert segments, f"{name}: the VAD found no speech"
        text = "，".join(t for seg in segments if (t := whisper.transcribe(seg).text))
        out[name] = (text, match_intent(text, today=TODAY))
    return out


def test_every_command_file_is_covered():
    assert set(EXPECTED) == set(transcripts()), "transcripts.tsv and the expectations disagree"


def test_intent_accuracy_at_least_15_of_16(results):
    rows = [(n, text, got, intent_ok(EXPECTED[n], got)) for n, (text, got) in results.items()]
    report = "\n".join(
        f"{'ok ' if ok else 'BAD'} {n:20s} {text!r} -> {got.name if got else None} {got.args if got else ''}"
        for n, text, got, ok in rows
    )
    correct = sum(ok for *_, ok in rows)
    print(f"\nintent accuracy {correct}/{len(rows)}\n{report}")
    assert correct >= 15, report


def test_transcripts_are_simplified_chinese(results):
    for name, (text, _) in results.items():
        assert _HAN.search(text) or name == "enroll_phrase_3.wav", f"{name}: no Chinese in {text!r}"
        assert zhconv.convert(text, "zh-cn") == text, f"{name}: Traditional characters in {text!r}"


def test_transcripts_are_close_to_what_was_said(results):
    """Character error rate against transcripts.tsv. Transcripts where Whisper wrote numbers as digits
    (一万两千 → 12000) are left out: digits are a valid rendering that CER would count as errors."""
    truth = transcripts()
    errors = {n: cer(truth[n], text) for n, (text, _) in results.items() if not re.search(r"\d", text)}
    assert len(errors) >= 13, errors
    mean = sum(errors.values()) / len(errors)
    assert mean < 0.15, errors
    assert errors["drill_audit.wav"] < 0.1 and errors["broadcast.wav"] < 0.1, errors
