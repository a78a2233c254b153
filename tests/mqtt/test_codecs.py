"""Device-side codecs: the UDP audio packet (firmware checks, replay dropping) and notify's Ogg Opus."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.audio import tone
from firmware_bridge.ogg_opus import OggOpusError, read_ogg_opus, write_ogg_opus
from firmware_bridge.udp_audio import (
    DropReason,
    PacketDropped,
    PacketOpener,
    PacketSealer,
    UdpBlockError,
    make_nonce,
    parse_udp_hello,
    ssrc_of,
)

KEY = bytes(range(16))


def test_sealed_packets_open_in_order_and_header_is_the_counter_block() -> None:
    nonce = make_nonce(0xA1B2C3D4)
    sealer, opener = PacketSealer(KEY, nonce), PacketOpener(KEY)
    packets = [sealer.seal(bytes([i]) * (10 + i), timestamp=i * 60) for i in range(5)]
    for i, pkt in enumerate(packets):
        assert pkt[0] == 0x01 and ssrc_of(pkt) == 0xA1B2C3D4
        assert int.from_bytes(pkt[2:4], "big") == 10 + i
        assert pkt[16:] != bytes([i]) * (10 + i)  # encrypted
        header, payload = opener.open(pkt)
        assert payload == bytes([i]) * (10 + i)
        assert header.sequence == i + 1 and header.timestamp == i * 60


def test_duplicates_and_replays_are_dropped_gaps_accepted() -> None:
    sealer, opener = PacketSealer(KEY, make_nonce(7)), PacketOpener(KEY)
    p1, p2, p3, p4 = (sealer.seal(b"x" * 20) for _ in range(4))
    opener.open(p1)
    opener.open(p3)  # p2 lost: a gap is accepted
    assert opener.gaps == 1
    for old in (p3, p2, p1):
        with pytest.raises(PacketDropped) as exc:
            opener.open(old)
        assert exc.value.reason is DropReason.REPLAY
    assert opener.open(p4)[1] == b"x" * 20


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda p: p[:15], DropReason.SHORT),
        (lambda p: b"", DropReason.SHORT),
        (lambda p: b"\x02" + p[1:], DropReason.TYPE),
        (lambda p: p + b"\x00", DropReason.LENGTH),
        (lambda p: p[:-1], DropReason.LENGTH),
    ],
)
def test_firmware_checks(mangle, reason) -> None:  # type: ignore[no-untyped-def]
    pkt = PacketSealer(KEY, make_nonce(1)).seal(b"opus" * 10)
    with pytest.raises(PacketDropped) as exc:
        PacketOpener(KEY).open(mangle(pkt))
    assert exc.value.reason is reason


def test_wrong_key_decrypts_to_garbage_not_the_payload() -> None:
    pkt = PacketSealer(KEY, make_nonce(1)).seal(b"secret opus")
    _, payload = PacketOpener(bytes(16)).open(pkt)
    assert payload != b"secret opus"


def test_udp_hello_block_validated_like_the_firmware() -> None:
    good = {
        "type": "hello",
        "transport": "udp",
        "udp": {"server": "127.0.0.1", "port": 8884, "key": KEY.hex(), "nonce": make_nonce(3).hex()},
    }
    params = parse_udp_hello(good)
    assert params.key == KEY and params.ssrc == 3
    for bad_udp in (
        {**good["udp"], "port": 0},
        {**good["udp"], "port": "8884"},
        {**good["udp"], "key": KEY.hex()[:30]},
        {**good["udp"], "nonce": "zz" * 16},
        {**good["udp"], "server": 5},
    ):
        with pytest.raises(UdpBlockError):
            parse_udp_hello({**good, "udp": bad_udp})
    with pytest.raises(UdpBlockError):
        parse_udp_hello({**good, "transport": "websocket"})


def test_ogg_opus_round_trip_is_mono_and_keeps_the_sound() -> None:
    pcm = tone(440.0, 1.5, 16000, amplitude=0.4)
    data = write_ogg_opus(pcm, 16000)
    assert data[:4] == b"OggS"
    audio = read_ogg_opus(data, 16000)
    assert all(5 <= ms <= 120 for ms in audio.packet_ms)
    assert abs(audio.duration_s - 1.5) < 0.1
    spectrum = np.abs(np.fft.rfft(audio.pcm[2000:18000].astype(np.float64)))
    peak_hz = np.argmax(spectrum) * 16000 / 16000
    assert abs(peak_hz - 440) < 10


def test_ogg_reader_rejects_what_the_firmware_rejects() -> None:
    data = write_ogg_opus(tone(300.0, 1.0, 16000), 16000)
    with pytest.raises(OggOpusError):
        read_ogg_opus(b"RIFF" + data[4:])
    with pytest.raises(OggOpusError):
        read_ogg_opus(data[:60])  # headers only / truncated: no playable audio


def test_truncated_ogg_is_incomplete() -> None:
    data = write_ogg_opus(tone(300.0, 2.0, 16000), 16000)
    with pytest.raises(OggOpusError, match="incomplete"):
        read_ogg_opus(data[: len(data) // 2])


def test_undecryptable_packet_is_dropped_without_moving_the_sequence() -> None:
    from firmware_bridge.audio import OpusEncoder
    from firmware_bridge.udp_audio import plausible_opus

    nonce = make_nonce(9)
    good, forged = PacketSealer(KEY, nonce), PacketSealer(bytes(16), nonce)
    opener, check = PacketOpener(KEY, max_jump=1000), plausible_opus(60)
    packets = OpusEncoder(16000, 60).encode_pcm(tone(300.0, 0.3, 16000))
    assert opener.open(good.seal(packets[0]), check)[1] == packets[0]
    forged.sequence = 1_000_000  # a forger who guesses the ssrc but not the key, far ahead: refused outright
    for p in packets[1:]:
        with pytest.raises(PacketDropped) as exc:
            opener.open(forged.seal(p), check)
        assert exc.value.reason is DropReason.GARBAGE
    # near the real sequence: the wrong key's plaintext is noise, which the Opus shape check refuses ~98 % of the
    # time (measured over 500 forged packets, each against a fresh opener; the margin is wide)
    passed = 0
    for seq in range(1, 501):
        forged.sequence = seq
        try:
            PacketOpener(KEY, max_jump=1000).open(forged.seal(packets[1]), check)
            passed += 1
        except PacketDropped:
            pass
    assert passed < 50
    assert opener.open(good.seal(packets[1]), check)[1] == packets[1]  # the real device is not locked out
