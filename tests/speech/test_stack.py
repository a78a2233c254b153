from __future__ import annotations

import numpy as np

from server.config import Settings
from server.intent.matcher import match_intent
from server.speech.asr import WhisperASR
from server.speech.stack import SpeechStack
from server.speech.text import speakable_sentences
from tests.speech.audio import command, silence


async def test_stack_loads_warms_and_runs_a_turn(whisper: WhisperASR, tmp_path):
    settings = Settings(data_dir=tmp_path, tts_engine="espeak", vad_silence_ms=500)
    stack = SpeechStack.load(settings, asr=whisper)
    await stack.warm()
    assert stack.tts.engine_in_use == "espeak"
    assert {"tts_warm", "asr_warm", "vad_load"} <= set(stack.timings)
    assert stack.vad_config.silence_ms == 500

    # one turn end to end: device frames → endpointer → ASR → intent → reply audio
    ep = stack.new_endpointer()
    audio = np.concatenate([silence(0.5), command("drill_event.wav"), silence(1.0)])
    ends = [
        e for i in range(0, len(audio), 960) for e in ep.feed(audio[i : i + 960]) if e.kind == "speech_end"
    ]
    assert len(ends) == 1
    transcript = await stack.asr.transcribe_async(ends[0].pcm)
    intent = match_intent(transcript.text)
    assert intent is not None and intent.kind == "event"
    reply = speakable_sentences("**事件日志**：昨天有 3 条 `BackOff` 告警。建议检查镜像。")
    pcm = [await stack.tts.synthesize(s, stack.sample_rate) for s in reply]
    assert len(pcm) == 2 and all(p.dtype == np.int16 and len(p) > 8000 for p in pcm)
    assert any((tmp_path / "tts_cache").rglob("*.pcm"))  # rendered audio is cached under data_dir
