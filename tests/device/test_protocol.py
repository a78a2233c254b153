import json
import struct

import pytest

from firmware_bridge import protocol as P


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("payload", [b"", b"\x08", bytes(range(200))])
def test_frame_round_trip(version: int, payload: bytes) -> None:
    frame = P.encode_frame(payload, version, timestamp=123456)
    decoded = P.decode_frame(frame, version)
    assert decoded.payload == payload
    assert decoded.timestamp == (123456 if version == 2 else 0)


def test_v2_header_layout_is_big_endian_16_bytes() -> None:
    frame = P.encode_frame(b"abc", 2, timestamp=0x01020304)
    assert frame[:16] == struct.pack(">HHIII", 2, 0, 0, 0x01020304, 3)
    assert frame[16:] == b"abc"


def test_v3_header_layout() -> None:
    assert P.encode_frame(b"xyz", 3) == b"\x00\x00\x00\x03xyz"


def test_v2_from_mqtt_gateway_with_zeroed_version_and_type() -> None:
    # the gateway leaves bytes 0-7 zero; like the firmware we only trust timestamp and size
    frame = bytes(8) + struct.pack(">II", 99, 2) + b"op" + b"trailing"
    assert P.decode_frame(frame, 2) == P.AudioFrame(b"op", 99)


@pytest.mark.parametrize(
    ("version", "frame"),
    [
        (2, b"\x00" * 10),  # shorter than the header
        (2, struct.pack(">HHIII", 2, 0, 0, 0, 50) + b"short"),  # size beyond the data
        (3, b"\x00\x00"),
        (3, b"\x00\x00\x00\x09abc"),
    ],
)
def test_bad_frames_raise(version: int, frame: bytes) -> None:
    with pytest.raises(P.ProtocolError):
        P.decode_frame(frame, version)


def test_v3_refuses_oversized_payload() -> None:
    with pytest.raises(P.ProtocolError):
        P.encode_frame(bytes(70000), 3)


@pytest.mark.parametrize("value, expected", [("2", 2), (3, 3), ("", 1), ("9", 1), (None, 1), ("x", 1)])
def test_normalize_version(value: object, expected: int) -> None:
    assert P.normalize_version(value) == expected


@pytest.mark.parametrize("text", ["{not json", "[1,2]", '{"state":"start"}', '{"type":5}', "\ud800"])
def test_decode_json_rejects_bad_messages(text: str) -> None:
    with pytest.raises(P.ProtocolError):
        P.decode_json(text)


def test_firmware_hello_parses() -> None:
    msg = {
        "type": "hello",
        "version": 1,
        "features": {"aec": True, "mcp": True, "glyph_push": True},
        "text_font": {"bundle": "noto-v1"},
        "transport": "websocket",
        "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1, "frame_duration": 60},
    }
    hello = P.parse_client_hello(msg)
    assert hello.version == 1 and hello.transport == "websocket" and hello.mcp
    assert hello.audio_params == P.AudioParams(sample_rate=16000, frame_duration=60)


def test_browser_hello_without_audio_params_version_or_transport() -> None:
    msg = {
        "type": "hello",
        "device_id": "AA:BB:CC:DD:EE:FF",
        "device_name": "web",
        "device_mac": "aa:bb:cc:dd:ee:ff",
        "token": "t",
        "features": {"mcp": True},
    }
    hello = P.parse_client_hello(msg)
    assert hello.version is None and hello.transport is None and hello.audio_params is None
    assert hello.device_id == "AA:BB:CC:DD:EE:FF" and hello.mcp


def test_py_xiaozhi_hello_with_20ms_frames_and_odd_types() -> None:
    msg = {
        "type": "hello",
        "version": "3",
        "transport": "websocket",
        "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1, "frame_duration": 20},
        "features": "yes",
    }
    hello = P.parse_client_hello(msg)
    assert hello.version == 3 and hello.audio_params is not None and hello.audio_params.frame_duration == 20
    assert hello.features == {}


def test_audio_params_fall_back_per_key() -> None:
    p = P.AudioParams.from_dict({"sample_rate": "fast", "frame_duration": 40, "channels": True})
    assert p == P.AudioParams(sample_rate=16000, frame_duration=40, channels=1)


def test_server_hello_always_has_transport_and_full_audio_params() -> None:
    d = P.ServerHello("s1", P.AudioParams(sample_rate=24000)).to_dict()
    assert d == {
        "type": "hello",
        "transport": "websocket",
        "session_id": "s1",
        "audio_params": {"format": "opus", "sample_rate": 24000, "channels": 1, "frame_duration": 60},
    }


def test_parse_server_hello_like_the_firmware() -> None:
    with pytest.raises(P.ProtocolError):
        P.parse_server_hello({"type": "hello", "session_id": "x"})  # transport missing
    with pytest.raises(P.ProtocolError):
        P.parse_server_hello({"type": "hello", "transport": "udp"})
    hello = P.parse_server_hello({"type": "hello", "transport": "websocket", "session_id": "abc"})
    assert hello.audio_params.sample_rate == 24000 and hello.audio_params.frame_duration == 60


def test_device_messages_match_firmware_wire_order() -> None:
    assert P.encode_json(P.listen_start("S", "manual")) == (
        '{"session_id":"S","type":"listen","state":"start","mode":"manual"}'
    )
    assert P.encode_json(P.listen_detect("S", "你好小智")) == (
        '{"session_id":"S","type":"listen","state":"detect","text":"你好小智"}'
    )
    assert P.encode_json(P.abort("S")) == '{"session_id":"S","type":"abort"}'
    assert json.loads(P.encode_json(P.abort("S", "wake_word_detected")))["reason"] == "wake_word_detected"


def test_parse_listen_and_abort() -> None:
    assert P.parse_listen({"type": "listen", "state": "start", "mode": "weird"}).mode == "auto"
    assert P.parse_listen({"type": "listen", "state": "start", "mode": "realtime"}).mode == "realtime"
    detect = P.parse_listen({"type": "listen", "state": "detect", "text": "嘿，你好呀"})
    assert detect.text == "嘿，你好呀" and detect.mode is None and detect.session_id is None
    with pytest.raises(P.ProtocolError):
        P.parse_listen({"type": "listen", "state": "pause"})
    assert P.parse_abort({"type": "abort", "reason": 3}).reason is None
    with pytest.raises(P.ProtocolError):
        P.parse_mcp({"type": "mcp", "payload": "x"})


def test_alert_fields_are_strings() -> None:
    msg = P.alert(500, "disk full", "sad")
    assert all(isinstance(msg[k], str) for k in ("status", "message", "emotion"))
