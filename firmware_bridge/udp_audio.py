"""The MQTT+UDP audio packet (reference §6.3) and the ``udp`` block of the MQTT hello (§6.2).

::

     0      1      2..3          4..7        8..11          12..15        16..
    |type=1|flags |payload_len BE| ssrc      |timestamp BE   |sequence BE  | AES-CTR(opus) |

The 16-byte header *is* the AES-128-CTR initial counter block. Both directions use the same layout: the
header starts as a copy of the session nonce (type, flags and ssrc come from it), bytes 2-3 carry the
payload length, 8-11 the timestamp and 12-15 a sequence number that starts at 1 and only grows.

``PacketOpener`` applies the firmware's checks in the firmware's order (≥16 bytes, type 0x01, exact length,
sequence strictly greater than the last accepted one) and drops anything else with a reason.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

HEADER = struct.Struct(">BBHIII")  # type, flags, payload_len, ssrc, timestamp, sequence
HEADER_SIZE = HEADER.size  # 16
PACKET_TYPE_AUDIO = 0x01
KEY_SIZE = 16
MAX_PAYLOAD = 0xFFFF
_SEQ_MASK = 0xFFFFFFFF


class DropReason(StrEnum):
    SHORT = "short"  # fewer than 16 bytes
    TYPE = "type"  # byte 0 is not 0x01
    LENGTH = "length"  # len != 16 + payload_len
    REPLAY = "replay"  # sequence not above the last accepted one (duplicate, old or replayed)
    UNKNOWN_SESSION = "unknown_session"  # ssrc names no session (server side)
    WRONG_PEER = "wrong_peer"  # from another address than the one the session learned (server side)
    GARBAGE = "garbage"  # decrypts to no Opus packet of the session's shape (wrong key, forged)


class PacketDropped(ValueError):
    def __init__(self, reason: DropReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason


@dataclass(frozen=True)
class PacketHeader:
    type: int
    flags: int
    payload_len: int
    ssrc: int
    timestamp: int
    sequence: int

    def pack(self) -> bytes:
        return HEADER.pack(self.type, self.flags, self.payload_len, self.ssrc, self.timestamp, self.sequence)


def _ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CTR(iv))
    enc = cipher.encryptor()
    return enc.update(data) + enc.finalize()


def make_nonce(ssrc: int, flags: int = 0) -> bytes:
    """A session nonce: type 0x01, the routing id in bytes 4-7, the rest random (bytes 8-15 are overwritten
    per packet anyway, so the counter blocks of two packets never collide within a session)."""
    rand = secrets.token_bytes(8)
    return HEADER.pack(PACKET_TYPE_AUDIO, flags & 0xFF, 0, ssrc & 0xFFFFFFFF, 0, 0)[:8] + rand


def ssrc_of(datagram: bytes) -> int | None:
    """The routing id (bytes 4-7) of a datagram, or None when it is too short to have one."""
    if len(datagram) < HEADER_SIZE:
        return None
    return int.from_bytes(datagram[4:8], "big")


def seal(key: bytes, nonce: bytes, payload: bytes, sequence: int, timestamp: int = 0) -> bytes:
    """One packet: the nonce's type/flags/ssrc, our length/timestamp/sequence, the payload AES-CTR encrypted
    with the header as IV."""
    if len(key) != KEY_SIZE or len(nonce) != HEADER_SIZE:
        raise ValueError("key and nonce must be 16 bytes each")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload too large for one packet: {len(payload)} bytes")
    if not 1 <= sequence <= _SEQ_MASK:
        raise ValueError(f"sequence out of range: {sequence}")
    header = (
        nonce[:2]
        + len(payload).to_bytes(2, "big")
        + nonce[4:8]
        + (timestamp & 0xFFFFFFFF).to_bytes(4, "big")
        + sequence.to_bytes(4, "big")
    )
    return header + _ctr(key, header, payload)


def parse_header(datagram: bytes) -> PacketHeader:
    """Checks 1-3 of the firmware (size, type, exact length); raises PacketDropped."""
    if len(datagram) < HEADER_SIZE:
        raise PacketDropped(DropReason.SHORT, f"{len(datagram)} bytes")
    header = PacketHeader(*HEADER.unpack_from(datagram))
    if header.type != PACKET_TYPE_AUDIO:
        raise PacketDropped(DropReason.TYPE, f"type 0x{header.type:02x}")
    if len(datagram) != HEADER_SIZE + header.payload_len:
        raise PacketDropped(DropReason.LENGTH, f"{len(datagram)} bytes for payload_len {header.payload_len}")
    return header


class PacketOpener:
    """One direction of one session: validates, drops duplicates/replays, decrypts."""

    def __init__(self, key: bytes, max_jump: int | None = None) -> None:
        """``max_jump``: refuse a sequence more than this far ahead of the last accepted one (the first packet
        counts from 0). None is the firmware's rule (any larger sequence); the server sets a bound, so a forged
        packet far ahead cannot make the real stream look like replays."""
        if len(key) != KEY_SIZE:
            raise ValueError("key must be 16 bytes")
        self._key = key
        self.max_jump = max_jump
        self.remote_sequence = 0  # last accepted sequence (the first valid one is ≥ 1)
        self.gaps = 0  # packets skipped over (a gap only logs on the firmware)

    def open(
        self, datagram: bytes, validate: Callable[[bytes], bool] | None = None
    ) -> tuple[PacketHeader, bytes]:
        """Header and plaintext of an acceptable packet. ``validate`` judges the plaintext; a packet it
        rejects is dropped without moving the sequence (a forged packet cannot lock the real one out)."""
        header = parse_header(datagram)
        if header.sequence <= self.remote_sequence:
            raise PacketDropped(
                DropReason.REPLAY, f"sequence {header.sequence} <= last accepted {self.remote_sequence}"
            )
        if self.max_jump is not None and header.sequence - self.remote_sequence > self.max_jump:
            raise PacketDropped(
                DropReason.GARBAGE,
                f"sequence {header.sequence} jumps past {self.remote_sequence} + {self.max_jump}",
            )
        payload = _ctr(self._key, datagram[:HEADER_SIZE], datagram[HEADER_SIZE:])
        if validate is not None and not validate(payload):
            raise PacketDropped(DropReason.GARBAGE, f"{len(payload)} bytes")
        if self.remote_sequence and header.sequence != self.remote_sequence + 1:
            self.gaps += header.sequence - self.remote_sequence - 1
        self.remote_sequence = header.sequence
        return header, payload


class PacketSealer:
    """The sending side of one session: ``++sequence`` per packet, starting at 1."""

    def __init__(self, key: bytes, nonce: bytes) -> None:
        if len(key) != KEY_SIZE or len(nonce) != HEADER_SIZE:
            raise ValueError("key and nonce must be 16 bytes each")
        self._key = key
        self._nonce = nonce
        self.sequence = 0

    def seal(self, payload: bytes, timestamp: int = 0) -> bytes:
        self.sequence = (self.sequence + 1) & _SEQ_MASK or 1
        return seal(self._key, self._nonce, payload, self.sequence, timestamp)


# --------------------------------------------------------------------------- the hello's udp block


class UdpBlockError(ValueError):
    """The firmware would ignore this hello (and time out)."""


@dataclass(frozen=True)
class UdpParams:
    server: str
    port: int
    key: bytes
    nonce: bytes
    encryption: str = "aes-128-ctr"

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "port": self.port,
            "key": self.key.hex(),
            "nonce": self.nonce.hex(),
            "encryption": self.encryption,
        }

    @property
    def ssrc(self) -> int:
        return int.from_bytes(self.nonce[4:8], "big")


def parse_udp_hello(obj: Any) -> UdpParams:
    """The device's validation of a server hello over MQTT: transport "udp", server a string, port
    1..65535, key and nonce hex of exactly 16 bytes each (``encryption`` is ignored)."""
    if not isinstance(obj, dict) or obj.get("transport") != "udp":
        raise UdpBlockError("hello transport is not udp")
    udp = obj.get("udp")
    if not isinstance(udp, dict):
        raise UdpBlockError("hello has no udp block")
    server, port = udp.get("server"), udp.get("port")
    if not isinstance(server, str) or not server:
        raise UdpBlockError("udp.server is not a string")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise UdpBlockError(f"udp.port out of range: {port!r}")
    raw: dict[str, bytes] = {}
    for name in ("key", "nonce"):
        value = udp.get(name)
        try:
            raw[name] = bytes.fromhex(value) if isinstance(value, str) else b""
        except ValueError:
            raw[name] = b""
        if len(raw[name]) != KEY_SIZE:
            raise UdpBlockError(f"udp.{name} is not 16 bytes of hex")
    return UdpParams(server, port, raw["key"], raw["nonce"], str(udp.get("encryption") or "aes-128-ctr"))


def plausible_opus(frame_ms: int) -> Callable[[bytes], bool]:
    """A validator for ``PacketOpener.open``: a mono Opus packet lasting ``frame_ms`` (TOC byte), or an
    empty one. Without a MAC in this protocol, this is what tells a wrong key's noise from audio."""
    from firmware_bridge.ogg_opus import OggOpusError, packet_duration_ms

    def check(payload: bytes) -> bool:
        if not payload:
            return True
        try:
            ms, stereo = packet_duration_ms(payload)
        except OggOpusError:
            return False
        return not stereo and abs(ms - frame_ms) < 0.5

    return check
