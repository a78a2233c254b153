from __future__ import annotations

import asyncio
import io
import logging
import time

import av
import numpy as np
import pytest

from server.speech.tts import EdgeTTS, EspeakTTS, FallbackTTS, PcmCache, decode_audio, resample

SENTENCE = "今天系统运行正常，共处理一万两千条业务日志。"  # 22 characters


def seconds(pcm: np.ndarray, rate: int) -> float:
    return len(pcm) / rate


class BlackHole:
    """A local TCP server that accepts connections and never answers: a black-holed network."""

    def __init__(self) -> None:
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        await reader.read(65536)  # swallow the CONNECT request, reply nothing

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        for w in self._writers:
            w.close()
        self.server.close()


async def test_espeak_duration_is_plausible_for_the_text():
    tts = EspeakTTS()
    pcm16 = await tts.synthesize(SENTENCE, 16000)
    pcm24 = await tts.synthesize(SENTENCE, 24000)
    assert pcm16.dtype == np.int16
    # Mandarin is spoken at ~3-6 syllables/s; espeak at speed 160 is in that range
    assert 22 / 6 <= seconds(pcm16, 16000) <= 22 / 2.5
    assert seconds(pcm24, 24000) == pytest.approx(seconds(pcm16, 16000), rel=0.02)
    assert np.sqrt(np.mean(pcm16.astype(np.float32) ** 2)) > 500  # audible, not silence
    short = await tts.synthesize("好的", 16000)
    assert seconds(short, 16000) < seconds(pcm16, 16000) / 4


async def test_espeak_text_cannot_inject_options():
    pcm = await EspeakTTS().synthesize("--version -w /tmp/x.wav", 16000)
    assert len(pcm) > 16000 * 0.5  # it was spoken, not interpreted


def test_mp3_decoding_and_resampling():
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(24000 * 2) / 24000)).astype(np.int16)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:  # the format edge-tts sends: 24 kHz mono MP3
        stream = out.add_stream("libmp3lame", rate=24000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 24000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    pcm = decode_audio(buf.getvalue(), 16000)
    assert seconds(pcm, 16000) == pytest.approx(2.0, abs=0.08)
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float32)))
    assert np.argmax(spectrum) * 16000 / len(pcm) == pytest.approx(440, abs=5)
    assert len(resample(tone, 24000, 8000)) == pytest.approx(len(tone) / 3, abs=64)


async def test_edge_black_holed_falls_back_within_the_timeout(caplog, tmp_path):
    # The dead server runs inside the test: an async fixture would live on another event loop.
    hole = BlackHole()
    async with hole as proxy:
        tts = FallbackTTS(EdgeTTS(timeout_s=0.5, proxy=proxy), EspeakTTS(), PcmCache(tmp_path))
        caplog.set_level(logging.INFO, logger="server.speech.tts")
        started = time.monotonic()
        pcm = await tts.synthesize("开始播报日志", 16000)
        elapsed = time.monotonic() - started
        assert hole.connections == 1  # edge really tried the (dead) network
        assert (
            len(pcm) > 16000 * 0.5 and elapsed < 0.5 + 3.0
        )  # far below edge's 20 s total limit, even on a busy CPU
        assert tts.engine_in_use == "espeak"
        # the next sentences don't pay the timeout again, and nothing more is logged
        started = time.monotonic()
        for text in ("审计日志有三条异常。", "是否回滚？"):
            assert len(await tts.synthesize(text, 16000)) > 0
        assert time.monotonic() - started < 0.5
        assert hole.connections == 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "edge" in warnings[0].getMessage()
    assert "espeak" in warnings[0].getMessage()


async def test_edge_is_retried_after_the_quiet_period():
    hole = BlackHole()
    now = [1000.0]
    async with hole as proxy:
        tts = FallbackTTS(EdgeTTS(timeout_s=0.3, proxy=proxy), EspeakTTS(), clock=lambda: now[0])
        await tts.synthesize("第一句", 16000)
        now[0] += 299
        await tts.synthesize("第二句", 16000)
        assert hole.connections == 1
        now[0] += 2
        await tts.synthesize("第三句", 16000)
        assert hole.connections == 2


async def test_refused_connection_falls_back_at_once(tmp_path):
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()  # nothing listens on this port any more
    tts = FallbackTTS(EdgeTTS(timeout_s=2.0, proxy=f"http://127.0.0.1:{port}"), EspeakTTS())
    started = time.monotonic()
    assert len(await tts.synthesize("确认回滚", 16000)) > 0
    assert time.monotonic() - started < 1.0


async def test_turn_never_raises_even_when_every_engine_fails(caplog):
    tts = FallbackTTS(
        EdgeTTS(timeout_s=0.2, proxy="http://127.0.0.1:9"), EspeakTTS(binary="/nonexistent/espeak")
    )
    pcm = await tts.synthesize("你好", 16000)
    assert pcm.dtype == np.int16 and pcm.size == 0
    assert any("silent" in r.getMessage() for r in caplog.records)
    assert (await tts.synthesize("   ", 16000)).size == 0


async def test_cache_hit_returns_identical_pcm_and_survives_a_restart(tmp_path):
    espeak = EspeakTTS()
    tts = FallbackTTS(None, espeak, PcmCache(tmp_path / "tts_cache"))
    first = await tts.synthesize(SENTENCE, 16000)
    espeak.binary = "/nonexistent/espeak"  # from now on only the cache can answer
    again = await tts.synthesize(SENTENCE, 16000)
    assert np.array_equal(first, again) and again.dtype == np.int16
    restarted = FallbackTTS(None, EspeakTTS(binary="/nonexistent/espeak"), PcmCache(tmp_path / "tts_cache"))
    assert np.array_equal(await restarted.synthesize(SENTENCE, 16000), first)
    # the key includes the rate: a different rate is a miss (here: silent, since espeak is gone)
    assert (await restarted.synthesize(SENTENCE, 24000)).size == 0


async def test_prerender_fills_the_cache(tmp_path):
    cache = PcmCache(tmp_path)
    tts = FallbackTTS(None, EspeakTTS(), cache)
    sentences = ["昨日业务日志正常。", "事件日志有两条告警。"]
    assert await tts.prerender(sentences, 16000) > 16000
    for s in sentences:
        assert cache.get(PcmCache.key("espeak", "cmn-latn-pinyin", 16000, s)) is not None


def test_cache_prunes_least_recently_used(tmp_path):
    cache = PcmCache(tmp_path, max_bytes=3000)
    for i in range(4):
        cache.put(f"{i:064x}", np.full(500, i, dtype=np.int16))  # 1000 bytes each
        time.sleep(0.01)
    cache.prune()
    assert cache.get(f"{0:064x}") is None and cache.get(f"{3:064x}") is not None
