import threading

import numpy as np
import pytest

from server.voiceprint.audio import AudioError, decode_wav, encode_wav
from server.voiceprint.encoder import window_starts
from tests.voiceprint.conftest import SPEAKERS, load


def test_embedding_is_unit_length_and_speaker_specific(encoder) -> None:
    a1 = encoder.embed(load(SPEAKERS / "espeak_f2" / "enroll_1.wav"))
    a2 = encoder.embed(load(SPEAKERS / "espeak_f2" / "enroll_2.wav"))
    b = encoder.embed(load(SPEAKERS / "espeak_m1" / "enroll_1.wav"))
    assert a1.shape == (256,)
    assert abs(float(np.linalg.norm(a1)) - 1.0) < 1e-4
    assert float(a1 @ a2) > float(a1 @ b) + 0.1  # same voice, different sentence beats another voice


def test_silence_noise_and_too_short_clips_are_rejected(encoder) -> None:
    with pytest.raises(AudioError, match="silent"):
        encoder.analyse(np.zeros(16000, dtype=np.int16))
    rng = np.random.default_rng(0)
    with pytest.raises(AudioError, match=r"no speech|silent"):
        encoder.analyse((rng.standard_normal(16000) * 20).astype(np.int16))  # faint hiss
    with pytest.raises(AudioError, match="too short"):
        encoder.analyse(load(SPEAKERS / "espeak_f2" / "enroll_1.wav")[:4000])


def test_concurrent_calls_give_the_same_embedding(encoder) -> None:
    pcm = load(SPEAKERS / "espeak_m3" / "probe_audit.wav")
    ref = encoder.embed(pcm)
    results: list[np.ndarray] = []

    def run() -> None:
        results.append(encoder.embed(pcm))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    for r in results:
        np.testing.assert_allclose(r, ref, atol=1e-5)


def test_windows_cover_the_clip_without_padding() -> None:
    assert window_starts(100) == [(0, 100)]
    w = window_starts(300)
    assert w[0] == (0, 160) and w[-1] == (140, 300)
    assert all(b - a == 160 for a, b in w)


def test_wav_decoding_resamples_and_mixes_down() -> None:
    pcm = (np.sin(np.arange(8000) / 10) * 8000).astype(np.int16)
    stereo = np.repeat(pcm, 2)
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(stereo.tobytes())
    out = decode_wav(buf.getvalue(), "x.wav")
    assert abs(len(out) - 16000) <= 2  # 1 s at 16 kHz
    assert len(decode_wav(encode_wav(pcm), "y.wav")) == len(pcm)
    for bad, msg in ((b"", "empty"), (b"hello world, not audio", "not a WAV")):
        with pytest.raises(AudioError, match=msg):
            decode_wav(bad, "bad.wav")
