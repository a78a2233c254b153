import numpy as np
import pytest

from firmware_bridge import audio as A


def dominant_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.argmax(spectrum) * rate / len(pcm))


@pytest.mark.parametrize("rate", [16000, 24000])
@pytest.mark.parametrize("frame_ms", [20, 40, 60])
def test_opus_round_trip_keeps_length_and_pitch(rate: int, frame_ms: int) -> None:
    pcm = A.tone(440.0, 1.0, rate)
    packets = A.encode_opus(pcm, rate, frame_ms)
    assert len(packets) == 1000 // frame_ms + (1 if 1000 % frame_ms else 0)
    out = A.decode_opus(packets, rate)
    assert len(out) == len(packets) * A.frame_samples(rate, frame_ms)
    assert abs(dominant_hz(out[rate // 10 : rate], rate) - 440.0) < 5


def test_dtx_packets_of_1_to_3_bytes_decode_to_silence() -> None:
    # the firmware's encoder sends TOC-only packets in silence (DTX); 0x58 = SILK WB 60 ms, code 0
    dec = A.OpusDecoder(16000)
    for packet in (b"\x58", b"\x58\x00", b"\x5a\x00"):
        out = dec.decode(packet)
        assert len(out) in (960, 1920)
        assert np.abs(out).max() < 50


def test_decoder_rejects_corrupt_packets_and_ignores_empty() -> None:
    dec = A.OpusDecoder(16000)
    with pytest.raises(A.AudioError):
        dec.decode(b"\xff\xff\xff")
    assert len(dec.decode(b"")) == 0


def test_encoder_checks_frame_size_and_rate() -> None:
    with pytest.raises(A.AudioError):
        A.OpusEncoder(16000, 60).encode(np.zeros(100, np.int16))
    with pytest.raises(A.AudioError):
        A.OpusEncoder(22050)
    with pytest.raises(A.AudioError):
        A.OpusEncoder(16000, 30)


def test_resample_keeps_duration_and_pitch() -> None:
    src = A.tone(500.0, 1.0, 22050)
    out = A.resample(src, 22050, 16000)
    assert len(out) == 16000
    assert abs(dominant_hz(out, 16000) - 500.0) < 5
    up = A.resample(out, 16000, 24000)
    assert len(up) == 24000 and abs(dominant_hz(up, 24000) - 500.0) < 5


def test_wav_round_trip(tmp_path) -> None:
    pcm = A.tone(300.0, 0.5, 16000)
    path = A.write_wav(tmp_path / "a" / "t.wav", pcm, 16000)
    back, rate = A.read_wav(path)
    assert rate == 16000 and np.array_equal(back, pcm)


def test_streamed_wav_with_bogus_sizes_parses() -> None:
    pcm = A.tone(300.0, 0.1, 22050)
    header = b"RIFF" + b"\xff\xff\xff\x7f" + b"WAVEfmt " + (16).to_bytes(4, "little")
    header += (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (22050).to_bytes(4, "little")
    header += (44100).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    data = header + b"data" + b"\x00\xf0\xff\x7f" + pcm.tobytes()
    out, rate = A.parse_wav_bytes(data)
    assert rate == 22050 and np.array_equal(out, pcm)
    with pytest.raises(A.AudioError):
        A.parse_wav_bytes(b"not a wav file")


def test_espeak_speaks_pinyin_at_16k() -> None:
    pcm = A.espeak_pcm("ni3 hao3, kai1 shi3 bo1 bao4 ri4 zhi4")
    assert pcm.dtype == np.int16
    assert 0.8 < len(pcm) / 16000 < 6
    assert np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 300  # real speech energy, not silence
