"""OTA / activation check: request model and the pure function that builds the response.

The firmware calls this at every boot (reference §5). For a WebSocket-only server the response must carry
``websocket`` and no ``mqtt`` block (else the device picks MQTT), and a purely numeric firmware version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_NUMERIC_VERSION = re.compile(r"^\d+(\.\d+)*$")


def is_numeric_version(value: Any) -> bool:
    """The firmware compares versions with ``std::stoi`` per dot segment; anything else makes it throw."""
    return isinstance(value, str) and bool(_NUMERIC_VERSION.match(value))


@dataclass(frozen=True)
class OtaRequest:
    device_id: str = ""
    client_id: str = ""
    user_agent: str = ""
    app_version: str | None = None  # body.application.version, as sent
    body: dict[str, Any] = field(default_factory=dict)
    body_error: str | None = None  # why the body could not be used (it is optional)


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


def parse_ota_request(headers: Mapping[str, str], body: bytes | str | None) -> OtaRequest:
    """Never raises: a missing or malformed body only leaves fields empty and says why."""
    parsed: dict[str, Any] = {}
    error: str | None = None
    if body:
        try:
            obj = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            error = f"body is not JSON: {exc}"
        else:
            if isinstance(obj, dict):
                parsed = obj
            else:
                error = "body is not a JSON object"
    app = parsed.get("application")
    version = app.get("version") if isinstance(app, dict) else None
    device_id = _header(headers, "Device-Id") or str(parsed.get("mac_address") or "")
    client_id = _header(headers, "Client-Id") or str(parsed.get("uuid") or "")
    return OtaRequest(
        device_id=device_id.lower(),
        client_id=client_id,
        user_agent=_header(headers, "User-Agent"),
        app_version=version if isinstance(version, str) else None,
        body=parsed,
        body_error=error,
    )


@dataclass(frozen=True)
class OtaConfig:
    ws_url: str  # ws://host:port/xiaozhi/v1/
    token: str = ""
    ws_version: int = 1  # binary framing the device should use
    firmware_version: str = "2.4.2"  # answered when the device reports no numeric version
    timezone: str = "Asia/Shanghai"


def timezone_offset_minutes(tz_name: str, at: datetime) -> int:
    """UTC offset of ``tz_name`` at ``at`` in minutes; an unknown zone counts as UTC."""
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    offset = at.astimezone(zone).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def build_ota_response(request: OtaRequest, config: OtaConfig, now: datetime) -> dict[str, Any]:
    """The OTA answer: server time, "no update" firmware block, websocket block. ``now`` must be aware."""
    version = request.app_version if is_numeric_version(request.app_version) else config.firmware_version
    return {
        "server_time": {
            "timestamp": int(now.timestamp() * 1000),
            "timezone_offset": timezone_offset_minutes(config.timezone, now),
        },
        # the device's own version with an empty url means "no update"
        "firmware": {"version": version, "url": ""},
        "websocket": {"url": config.ws_url, "token": config.token, "version": config.ws_version},
    }
