"""Adaptive endpointing's two halves, without ASR: the words-so-far verdict, and the endpointer obeying it."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from server.intent.completeness import Completeness, completeness
from server.intent.models import Expect
from server.speech.vad import Endpointer, SileroModel, VadConfig, shared_model
from tests.speech.audio import command, silence

TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    "partial",
    [
        "算了，",
        "算了",
        "小智，",
        "把音量调到",
        "审计日志里",
        "业务日志和",
        "昨天的",
        "帮我看看",
        "那个，",
        "先别",
    ],
)
def test_unfinished_words_hold_the_pause(partial: str) -> None:
    assert completeness(partial, TODAY) is Completeness.INCOMPLETE


@pytest.mark.parametrize(
    "partial",
    ["开始播报日志", "确认回滚", "算了，先不要回滚", "审计日志查一下", "声音大一点", "播报昨天的日志。"],
)
def test_finished_commands_end_at_once(partial: str) -> None:
    assert completeness(partial, TODAY) is Completeness.COMPLETE


def test_answers_are_finished_only_when_a_question_is_open() -> None:
    assert completeness("好的", TODAY, Expect.ROLLBACK) is Completeness.COMPLETE
    assert completeness("不用", TODAY, Expect.ROLLBACK) is Completeness.COMPLETE
    assert completeness("算了", TODAY, Expect.ROLLBACK) is Completeness.INCOMPLETE  # "算了，先…" goes on
    assert completeness("今天天气怎么样", TODAY) is Completeness.COMPLETE  # small talk is finished too
    assert completeness("昨天当", TODAY) is Completeness.UNKNOWN  # recognizer debris: a medium pause
    assert completeness("昨天业务日志理", TODAY) is Completeness.INCOMPLETE  # 理 heard for 里
    assert completeness("音量调到五十", TODAY) is Completeness.UNKNOWN  # a number may go on: normal silence


@pytest.fixture(scope="module")
def vad_model() -> SileroModel:
    return shared_model()  # the ONNX model alone (no Whisper)


def _feed(ep: Endpointer, pcm: np.ndarray) -> list[object]:
    events = []
    for i in range(0, len(pcm), 960):
        events += ep.feed(pcm[i : i + 960])
    return events


def test_endpointer_holds_a_pause_and_ends_on_request(vad_model: SileroModel) -> None:
    ep = Endpointer(vad_model, VadConfig(silence_ms=400, hold_silence_ms=1300))
    assert [e.kind for e in _feed(ep, np.concatenate([silence(0.3), command("rollback_no.wav")]))] == [
        "speech_start"
    ]
    _feed(ep, silence(0.2))
    assert ep.silence_started_ms is not None
    ep.require_silence(1300)  # the words so far are unfinished
    assert _feed(ep, silence(0.6)) == []  # 800 ms of silence, no end: the old fixed 400 ms would have cut
    end = ep.end_now()  # the words turned out to be finished
    assert end is not None and end.kind == "speech_end" and not end.forced and end.pcm is not None
    assert len(end.pcm) >= len(command("rollback_no.wav")) * 0.8
    assert ep.end_now() is None  # nothing open any more


def test_a_held_pause_still_ends(vad_model: SileroModel) -> None:
    ep = Endpointer(vad_model, VadConfig(silence_ms=400, hold_silence_ms=1300))
    _feed(ep, np.concatenate([silence(0.3), command("rollback_no.wav"), silence(0.2)]))
    ep.require_silence(1300)
    events = _feed(ep, silence(1.3))
    assert [e.kind for e in events] == ["speech_end"]  # nobody answered the hold: it ends by itself
