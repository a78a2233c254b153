from __future__ import annotations

import numpy as np
import pytest

from server.speech.vad import Endpointer, SileroModel, VadConfig, silero_onnx_path, speech_segments
from tests.speech.audio import RATE, command, silence

FRAME = 960


def recording() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """silence 1.0 s, 你好小智, silence 1.5 s, 帮我看看审计日志有没有异常, silence 2.0 s; truth from the layout."""
    parts = [silence(1.0), command("wake.wav"), silence(1.5), command("drill_audit.wav"), silence(2.0)]
    truth, t = [], 0.0
    for p in parts:
        if p.any():
            truth.append((t, t + len(p) / RATE))
        t += len(p) / RATE
    return np.concatenate(parts), truth


def stream(ep: Endpointer, pcm: np.ndarray, frame: int = FRAME) -> list[tuple[object, int]]:
    """Feed in device-sized frames; returns (event, stream position in ms when it fired)."""
    out = []
    for i in range(0, len(pcm), frame):
        out += [(ev, ep.position_ms) for ev in ep.feed(pcm[i : i + frame])]
    return out


def test_model_file_comes_from_the_package_without_importing_torch():
    import sys

    assert silero_onnx_path().name == "silero_vad.onnx"
    assert "silero_vad" not in sys.modules


def test_segments_match_the_truth(vad_model: SileroModel):
    pcm, truth = recording()
    segments = speech_segments(pcm, VadConfig(silence_ms=400), vad_model)
    assert len(segments) == len(truth)
    for seg, (start, end) in zip(segments, truth, strict=True):
        assert abs(seg.start_s - start) < 0.25, (seg, start)
        assert abs(seg.end_s - end) < 0.25, (seg, end)


@pytest.mark.parametrize("silence_ms", [300, 800])
def test_speech_end_fires_after_the_configured_silence(vad_model: SileroModel, silence_ms: int):
    pcm, _truth = recording()
    events = stream(Endpointer(vad_model, VadConfig(silence_ms=silence_ms)), pcm)
    ends = [(ev, at) for ev, at in events if ev.kind == "speech_end"]
    starts = [ev for ev, _ in events if ev.kind == "speech_start"]
    assert len(starts) == len(ends) == 2
    for ev, fired_at in ends:
        waited = fired_at - ev.end_ms
        # at least the configured silence; at most one model window (32 ms) + one device frame later
        assert silence_ms <= waited <= silence_ms + 32 + 60 + 5, (silence_ms, waited)
        assert not ev.forced


def test_a_pause_shorter_than_the_silence_does_not_split(vad_model: SileroModel):
    pcm = np.concatenate([silence(0.5), command("broadcast.wav"), silence(0.25), command("alerts.wav")])
    pcm = np.concatenate([pcm, silence(1.0)])
    segments = speech_segments(pcm, VadConfig(silence_ms=700), vad_model)
    assert len(segments) == 1


def test_utterance_pcm_keeps_the_pre_roll_and_drops_the_trailing_silence(vad_model: SileroModel):
    cfg = VadConfig(silence_ms=400, pad_ms=300)
    pcm, _ = recording()
    ends = [ev for ev, _ in stream(Endpointer(vad_model, cfg), pcm) if ev.kind == "speech_end"]
    for ev in ends:
        speech_ms = ev.end_ms - ev.start_ms
        got_ms = len(ev.pcm) * 1000 / RATE
        assert ev.pcm.dtype == np.int16
        # speech + pre-roll (≈300 ms, whole windows) + ≈300 ms of tail, not the whole 400+ ms of silence
        assert speech_ms + 500 <= got_ms <= speech_ms + 700, (speech_ms, got_ms)


def test_chunk_size_does_not_change_the_result(vad_model: SileroModel):
    pcm, _ = recording()
    a = [(e.kind, e.start_ms, e.end_ms) for e, _ in stream(Endpointer(vad_model), pcm, 960)]
    b = [(e.kind, e.start_ms, e.end_ms) for e, _ in stream(Endpointer(vad_model), pcm, 333)]
    assert a == b and len(a) == 4


def test_dtx_silence_and_empty_frames(vad_model: SileroModel):
    ep = Endpointer(vad_model, VadConfig(silence_ms=400))
    assert ep.feed(np.zeros(0, dtype=np.int16)) == []
    assert stream(ep, silence(3.0)) == []  # digital silence: no speech
    events = stream(ep, command("enroll.wav"))
    assert [e.kind for e, _ in events] == ["speech_start"]
    # the device stops sending frames (DTX): the transport advances time without audio
    ended = ep.feed_silence(600)
    assert [e.kind for e in ended] == ["speech_end"] and not ep.in_speech


def test_flush_closes_an_open_utterance(vad_model: SileroModel):
    ep = Endpointer(vad_model)
    stream(ep, np.concatenate([silence(0.5), command("long.wav")[: int(RATE * 1.5)]]))
    assert ep.in_speech
    (end,) = ep.flush()
    assert end.kind == "speech_end" and end.forced and len(end.pcm) > RATE * 1.2


def test_max_speech_forces_an_end(vad_model: SileroModel):
    ep = Endpointer(vad_model, VadConfig(max_speech_s=1.5))
    events = stream(ep, np.concatenate([silence(0.3), command("long.wav")[: RATE * 3]]))
    forced = [e for e, _ in events if e.kind == "speech_end" and e.forced]
    assert forced and forced[0].end_ms - forced[0].start_ms <= 1600


def test_rejects_wrong_sample_format(vad_model: SileroModel):
    with pytest.raises(ValueError, match="int16"):
        Endpointer(vad_model).feed(np.zeros(512, dtype=np.float32))
