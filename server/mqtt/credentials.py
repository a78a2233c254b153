"""Per-device MQTT credentials derived from one server secret, and the topics each device may use.

Convention of the xiaozhi MQTT gateway (reference §6.1): ``client_id = GID_<board>@@@<mac_underscored>@@@<uuid>``
and ``password`` = base64(HMAC-SHA256(secret, client_id + "|" + username)). The ``username`` is the MAC with
underscores (the gateway uses base64 JSON; the firmware sends whatever OTA gave), so an external broker's
auto-subscribe and ACL rules can use ``${username}`` directly (``devices/p2p/${username}``).
Nothing is stored per device: the broker recomputes the password from what the device presents and compares in
constant time, so a password lifted from one device is worthless under any other client id or username.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from server.auth.tokens import load_or_create_secret_file

log = logging.getLogger(__name__)

SECRET_FILE = "mqtt.secret"
SEP = "@@@"
_MAC = re.compile(r"^[0-9a-f]{2}(_[0-9a-f]{2}){5}$")
_BOARD_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def mac_key(device_id: str) -> str:
    """``aa:bb:cc:dd:ee:ff`` → ``aa_bb_cc_dd_ee_ff`` (topic- and client-id-safe)."""
    return device_id.strip().lower().replace(":", "_").replace("-", "_")


def device_from_key(key: str) -> str:
    return key.replace("_", ":")


def downlink_topic(device_id: str) -> str:
    """Where the server publishes to a device (the gateway's convention; the device never subscribes)."""
    return f"devices/p2p/{mac_key(device_id)}"


def uplink_topic(device_id: str) -> str:
    """The device's own ``publish_topic``: the only topic it may publish to."""
    return f"xiaozhi/up/{mac_key(device_id)}"


def mqtt_secret(configured: str, data_dir: Path) -> str:
    """``XOPS_MQTT_SECRET``, or the one generated at first run into ``<data_dir>/mqtt.secret`` (0600). Never
    printed: nobody types it (devices get derived passwords from OTA); an external broker's auth hook reads the file."""
    if configured.strip():
        return configured.strip()
    path = Path(data_dir) / SECRET_FILE
    secret, created = load_or_create_secret_file(path)
    if created:
        log.info("generated the MQTT device secret into %s (mode 0600)", path)
    return secret


@dataclass(frozen=True)
class MqttCredentials:
    client_id: str
    username: str
    password: str

    def __repr__(self) -> str:
        return f"MqttCredentials(client_id={self.client_id!r}, username={self.username!r}, password=<hidden>)"


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: str  # aa:bb:cc:dd:ee:ff
    board: str
    uuid: str


class CredentialIssuer:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("empty MQTT secret")
        self._secret = secret.encode()

    def __repr__(self) -> str:
        return "CredentialIssuer(<secret hidden>)"

    def _password(self, client_id: str, username: str) -> str:
        digest = hmac.new(self._secret, f"{client_id}|{username}".encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def issue(self, device_id: str, uuid: str = "", board: str = "") -> MqttCredentials:
        key = mac_key(device_id)
        if not _MAC.match(key):
            raise ValueError(f"device id {device_id!r} is not a MAC address")
        board = _BOARD_CHARS.sub("-", board).strip("-")[:40] or "xiaozhi"
        uuid = _BOARD_CHARS.sub("-", uuid)[:64]
        client_id = SEP.join((f"GID_{board}", key, uuid))
        username = key
        return MqttCredentials(client_id, username, self._password(client_id, username))

    def verify(
        self, client_id: str | None, username: str | None, password: str | bytes | None
    ) -> DeviceIdentity | None:
        """The device these credentials were issued to, or None (forged, altered or borrowed)."""
        if not client_id or not username or not password:
            return None
        if isinstance(password, bytes):
            try:
                password = password.decode()
            except UnicodeDecodeError:
                return None
        expected = self._password(client_id, username)
        ok = hmac.compare_digest(expected.encode(), password.encode())
        identity = self.identity_of(client_id, username)
        return identity if ok else None

    @staticmethod
    def identity_of(client_id: str, username: str) -> DeviceIdentity | None:
        """The device a (client id, username) pair names, by the convention; no password checked."""
        parts = client_id.split(SEP)
        if (
            len(parts) != 3
            or not parts[0].startswith("GID_")
            or not _MAC.match(parts[1])
            or username != parts[1]
        ):
            return None
        return DeviceIdentity(device_id=device_from_key(parts[1]), board=parts[0][4:], uuid=parts[2])
