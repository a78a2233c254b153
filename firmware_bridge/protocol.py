"""The xiaozhi device protocol on the wire: binary audio framing (v1/v2/v3) and the JSON messages.

Pure functions and dataclasses only; no sockets. Field orders follow the firmware (see
``reference/xiaozhi-protocol.md`` §2-§3) because the firmware builds its messages by hand.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

SUPPORTED_VERSIONS = (1, 2, 3)
V2_HEADER = struct.Struct(">HHIII")  # version, type, reserved, timestamp, payload_size
V3_HEADER = struct.Struct(">BBH")  # type, reserved, payload_size
LISTEN_MODES = ("auto", "manual", "realtime")


class ProtocolError(ValueError):
    """A frame or message that does not follow the protocol."""


class HostileMessage(ProtocolError):
    """JSON no client sends by mistake (absurd nesting, non-finite or out-of-range numbers): the
    connection is closed with 1007 instead of the message being skipped."""


MAX_JSON_DEPTH = 32  # the deepest real message (an MCP tools/list schema) nests ~8 levels


# --------------------------------------------------------------------------- binary framing


@dataclass(frozen=True)
class AudioFrame:
    payload: bytes  # one Opus packet (may be empty)
    timestamp: int = 0  # v2 only: ms, for server-side AEC


def normalize_version(value: Any, default: int = 1) -> int:
    """A protocol version from a header, query or hello field; anything unknown falls back to ``default``."""
    try:
        v = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return v if v in SUPPORTED_VERSIONS else default


def encode_frame(payload: bytes, version: int, timestamp: int = 0) -> bytes:
    """Wrap one Opus packet in the binary framing of ``version`` (same layout both directions)."""
    if version == 1:
        return bytes(payload)
    if version == 2:
        return V2_HEADER.pack(2, 0, 0, timestamp & 0xFFFFFFFF, len(payload)) + payload
    if version == 3:
        if len(payload) > 0xFFFF:
            raise ProtocolError(f"v3 payload too large: {len(payload)} bytes")
        return V3_HEADER.pack(0, 0, len(payload)) + payload
    raise ProtocolError(f"unsupported protocol version {version}")


def decode_frame(data: bytes, version: int) -> AudioFrame:
    """Unwrap one binary frame. Like the firmware, ignore the header's version/type fields and trust
    ``payload_size``; a size larger than the frame is an error, trailing bytes are ignored."""
    if version == 1:
        return AudioFrame(bytes(data))
    if version == 2:
        if len(data) < V2_HEADER.size:
            raise ProtocolError(f"v2 frame shorter than its header: {len(data)} bytes")
        _, _, _, ts, size = V2_HEADER.unpack_from(data)
        body = data[V2_HEADER.size :]
        if size > len(body):
            raise ProtocolError(f"v2 payload_size {size} > {len(body)} bytes present")
        return AudioFrame(bytes(body[:size]), ts)
    if version == 3:
        if len(data) < V3_HEADER.size:
            raise ProtocolError(f"v3 frame shorter than its header: {len(data)} bytes")
        _, _, size = V3_HEADER.unpack_from(data)
        body = data[V3_HEADER.size :]
        if size > len(body):
            raise ProtocolError(f"v3 payload_size {size} > {len(body)} bytes present")
        return AudioFrame(bytes(body[:size]))
    raise ProtocolError(f"unsupported protocol version {version}")


# --------------------------------------------------------------------------- JSON basics


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf
        raise HostileMessage(f"number {text[:20]!r} out of range")
    return value


def _no_constant(name: str) -> float:
    raise HostileMessage(f"non-standard JSON constant {name}")


def _depth(obj: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (never recursion on hostile input)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return deepest


def decode_json(text: str | bytes) -> dict[str, Any]:
    """Parse one text frame into an object with a string ``type``; anything else is a ProtocolError.

    Hostile input (nesting deeper than MAX_JSON_DEPTH, ``1e400``, ``NaN``/``Infinity``, integers too
    long to convert) raises ``HostileMessage``."""
    try:
        obj = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except HostileMessage:
        raise
    except RecursionError:
        raise HostileMessage("JSON nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed JSON: {exc}") from None
    except ValueError as exc:  # e.g. an integer longer than sys.get_int_max_str_digits()
        raise HostileMessage(f"JSON number out of range: {str(exc)[:80]}") from None
    if isinstance(obj, dict | list) and _depth(obj) > MAX_JSON_DEPTH:
        raise HostileMessage(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(obj, dict):
        raise ProtocolError("JSON message is not an object")
    if not isinstance(obj.get("type"), str):
        raise ProtocolError("JSON message has no string 'type'")
    return obj


def encode_json(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------- hello


AUDIO_PARAM_RANGES: dict[str, tuple[float, float]] = {
    "sample_rate": (8000, 48000),
    "channels": (1, 2),
    "frame_duration": (2.5, 120),
}


@dataclass(frozen=True)
class AudioParams:
    format: str = "opus"
    sample_rate: int = 16000
    channels: int = 1
    frame_duration: int = 60

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "frame_duration": self.frame_duration,
        }

    @classmethod
    def from_dict(cls, obj: Any, default: AudioParams | None = None) -> AudioParams:
        """Tolerant: missing or ill-typed keys take the default's values. A number outside what any
        audio client sends (``sample_rate`` 1e300, a negative channel count) is hostile: HostileMessage."""
        base = default or cls()
        if not isinstance(obj, dict):
            return base

        def num(key: str, fallback: int) -> int:
            v = obj.get(key)
            if not isinstance(v, int | float) or isinstance(v, bool):
                return fallback
            low, high = AUDIO_PARAM_RANGES[key]
            if not low <= v <= high:  # also false for NaN; never converts a huge int to float
                raise HostileMessage(f"audio_params.{key} out of range ({low}-{high})")
            return max(1, int(v))

        fmt = obj.get("format")
        return cls(
            format=fmt if isinstance(fmt, str) and fmt else base.format,
            sample_rate=num("sample_rate", base.sample_rate),
            channels=num("channels", base.channels),
            frame_duration=num("frame_duration", base.frame_duration),
        )


@dataclass(frozen=True)
class ClientHello:
    """A device/client hello. Firmware, xiaozhi-sdk, py-xiaozhi and the browser page all differ; every
    field is optional (the browser sends no ``version``, ``transport`` or ``audio_params``)."""

    version: int | None = None
    transport: str | None = None
    features: dict[str, Any] = field(default_factory=dict)
    audio_params: AudioParams | None = None
    device_id: str | None = None  # browser page: device_id / device_mac in the body
    device_name: str | None = None
    token: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def mcp(self) -> bool:
        return bool(self.features.get("mcp"))


def parse_client_hello(obj: dict[str, Any]) -> ClientHello:
    if obj.get("type") != "hello":
        raise ProtocolError("not a hello message")
    version = obj.get("version")
    features = obj.get("features")

    def text(key: str) -> str | None:
        v = obj.get(key)
        return v if isinstance(v, str) and v else None

    return ClientHello(
        version=(normalize_version(version, 0) or None) if version is not None else None,
        transport=text("transport"),
        features=dict(features) if isinstance(features, dict) else {},
        audio_params=AudioParams.from_dict(obj["audio_params"]) if "audio_params" in obj else None,
        device_id=text("device_id") or text("device_mac"),
        device_name=text("device_name"),
        token=text("token"),
        raw=obj,
    )


@dataclass(frozen=True)
class ServerHello:
    session_id: str
    audio_params: AudioParams = AudioParams(sample_rate=24000)
    transport: str = "websocket"

    def to_dict(self) -> dict[str, Any]:
        # transport must always be present: the firmware dereferences it unchecked
        return {
            "type": "hello",
            "transport": self.transport,
            "session_id": self.session_id,
            "audio_params": self.audio_params.to_dict(),
        }


def parse_server_hello(obj: dict[str, Any]) -> ServerHello:
    """What ``ParseServerHello()`` accepts: transport must be "websocket"; missing audio params default
    to 24000 Hz / 60 ms."""
    if obj.get("type") != "hello":
        raise ProtocolError("not a hello message")
    if obj.get("transport") != "websocket":
        raise ProtocolError(f"server hello transport is {obj.get('transport')!r}, not 'websocket'")
    sid = obj.get("session_id")
    return ServerHello(
        session_id=sid if isinstance(sid, str) else "",
        audio_params=AudioParams.from_dict(obj.get("audio_params"), AudioParams(sample_rate=24000)),
    )


def device_hello(
    version: int = 1,
    *,
    mcp: bool = True,
    aec: bool = False,
    audio_params: AudioParams | None = AudioParams(),
) -> dict[str, Any]:
    """The firmware's ``GetHelloMessage()`` (field order as on the wire)."""
    features: dict[str, Any] = {}
    if aec:
        features["aec"] = True
    features["mcp"] = mcp
    msg: dict[str, Any] = {
        "type": "hello",
        "version": version,
        "features": features,
        "transport": "websocket",
    }
    if audio_params is not None:
        msg["audio_params"] = audio_params.to_dict()
    return msg


# --------------------------------------------------------------------------- device -> server


@dataclass(frozen=True)
class ListenMessage:
    state: str  # start | stop | detect
    mode: str | None = None  # start only
    text: str | None = None  # detect only
    session_id: str | None = None


@dataclass(frozen=True)
class AbortMessage:
    reason: str | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class McpMessage:
    payload: dict[str, Any]
    session_id: str | None = None


def _sid(obj: dict[str, Any]) -> str | None:
    v = obj.get("session_id")
    return v if isinstance(v, str) else None


def parse_listen(obj: dict[str, Any]) -> ListenMessage:
    state = obj.get("state")
    if state not in ("start", "stop", "detect"):
        raise ProtocolError(f"listen with unknown state {state!r}")
    mode = obj.get("mode")
    mode = (mode if mode in LISTEN_MODES else "auto") if state == "start" else None
    text = obj.get("text")
    return ListenMessage(state, mode, text if isinstance(text, str) else None, _sid(obj))


def parse_abort(obj: dict[str, Any]) -> AbortMessage:
    reason = obj.get("reason")
    return AbortMessage(reason if isinstance(reason, str) else None, _sid(obj))


def parse_mcp(obj: dict[str, Any]) -> McpMessage:
    payload = obj.get("payload")
    if not isinstance(payload, dict):
        raise ProtocolError("mcp message without an object payload")
    return McpMessage(payload, _sid(obj))


def _with_sid(session_id: str | None, type_: str, **fields: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {}
    if session_id is not None:
        msg["session_id"] = session_id
    msg["type"] = type_
    msg.update({k: v for k, v in fields.items() if v is not None})
    return msg


def listen_start(session_id: str | None, mode: str = "auto") -> dict[str, Any]:
    return _with_sid(session_id, "listen", state="start", mode=mode)


def listen_stop(session_id: str | None) -> dict[str, Any]:
    return _with_sid(session_id, "listen", state="stop")


def listen_detect(session_id: str | None, text: str) -> dict[str, Any]:
    return _with_sid(session_id, "listen", state="detect", text=text)


def abort(session_id: str | None, reason: str | None = None) -> dict[str, Any]:
    return _with_sid(session_id, "abort", reason=reason)


def mcp(payload: dict[str, Any], session_id: str | None = None) -> dict[str, Any]:
    return _with_sid(session_id, "mcp", payload=payload)


# --------------------------------------------------------------------------- server -> device


# The firmware's emoji set (xinnan's EMOJI_MAP): ``llm`` carries the name as ``emotion`` and the emoji as
# ``text``; clients such as the browser page and xiaozhi-sdk print ``text``.
EMOJI = {
    "neutral": "😶",
    "happy": "🙂",
    "laughing": "😆",
    "funny": "😂",
    "sad": "😔",
    "angry": "😠",
    "crying": "😭",
    "loving": "😍",
    "embarrassed": "😳",
    "surprised": "😲",
    "shocked": "😱",
    "thinking": "🤔",
    "winking": "😉",
    "cool": "😎",
    "relaxed": "😌",
    "delicious": "🤤",
    "kissy": "😘",
    "confident": "😏",
    "sleepy": "😴",
    "silly": "😜",
    "confused": "🙄",
}


def tts_start(session_id: str | None = None) -> dict[str, Any]:
    return _with_sid(session_id, "tts", state="start")


def tts_stop(session_id: str | None = None) -> dict[str, Any]:
    return _with_sid(session_id, "tts", state="stop")


def sentence_start(text: str, session_id: str | None = None) -> dict[str, Any]:
    return _with_sid(session_id, "tts", state="sentence_start", text=text)


def stt(text: str, session_id: str | None = None) -> dict[str, Any]:
    return _with_sid(session_id, "stt", text=text)


def llm_emotion(emotion: str, session_id: str | None = None) -> dict[str, Any]:
    """``emotion`` as the firmware expects; an unknown name is sent as ``neutral`` (OLED boards fall
    back to it anyway)."""
    name = emotion if emotion in EMOJI else "neutral"
    return _with_sid(session_id, "llm", text=EMOJI[name], emotion=name)


def alert(status: str, message: str, emotion: str = "neutral") -> dict[str, Any]:
    # the firmware requires all three to be strings
    return {"type": "alert", "status": str(status), "message": str(message), "emotion": str(emotion)}


def system_reboot() -> dict[str, Any]:
    return {"type": "system", "command": "reboot"}
