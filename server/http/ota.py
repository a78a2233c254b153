"""OTA / activation endpoints the firmware calls at every boot (reference §5).

``/xiaozhi/ota/`` and ``/xiaozhi/ota`` (GET or POST) answer with server time, a "no update" firmware block
and either the websocket block or, when MQTT is enabled (``XOPS_MQTT_ENABLED``), the ``mqtt`` block with this
device's own credentials, never both (the presence of ``mqtt`` makes the device choose MQTT). A device whose id
is not a MAC, or one still waiting for activation, gets the websocket block.

Open mode: no token, ``/activate`` answers 200. Token mode: the websocket token is a per-device token, issued
only to an activated device (allow-listed, or activated by an admin with the 6-digit code the device speaks;
``server/auth/devices.py``). A device that is not activated gets an ``activation`` block (code + challenge) and
an empty token; ``/activate`` answers 202 until an admin activates it, then 200. Nothing configured is ever
handed to an unauthenticated caller.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web

from firmware_bridge.ota import OtaConfig, build_ota_response, parse_ota_request
from server.auth.devices import DeviceCredentials, normalise_device_id
from server.config import Settings

log = logging.getLogger(__name__)

OTA_PATHS = ("/xiaozhi/ota/", "/xiaozhi/ota")
ACTIVATE_PATHS = ("/xiaozhi/ota/activate", "/xiaozhi/ota/activate/")
ACTIVATION_TIMEOUT_MS = 30000
_LOG_EVERY_S = 600.0


def ws_url(settings: Settings, request_host: str | None) -> str:
    """The URL devices should open: public_host if set, else the host the device used to reach us."""
    host = settings.public_host or _strip_port(request_host or "") or "127.0.0.1"
    return f"ws://{host}:{settings.ws_port}/xiaozhi/v1/"


def _strip_port(host: str) -> str:
    if host.startswith("["):  # [ipv6]:port
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def ota_config(settings: Settings, request_host: str | None, token: str = "") -> OtaConfig:
    return OtaConfig(
        ws_url=ws_url(settings, request_host),
        token=token,
        ws_version=1,
        firmware_version=settings.firmware_version,
        timezone=settings.timezone,
    )


class _Activation:
    def __init__(self, settings: Settings, devices: DeviceCredentials | None) -> None:
        self.token_mode = settings.auth_mode == "token"
        self.devices = devices
        self._logged: dict[str, float] = {}
        if self.token_mode and devices is None:
            log.warning("token mode without a device credential store: OTA hands out no device token")

    def _log_waiting(self, device_id: str) -> None:
        now = time.monotonic()
        if now - self._logged.get(device_id, float("-inf")) >= _LOG_EVERY_S:
            self._logged[device_id] = now
            log.warning(
                "device %s is not activated: it speaks a 6-digit code; activate it with "
                "`xiaozhi-ops tokens activate <code>` (or POST /api/devices/activate)",
                device_id,
            )

    def token_and_block(self, device_id: str) -> tuple[str, dict[str, Any] | None]:
        """(websocket token, activation block) for this OTA check."""
        if not self.token_mode or self.devices is None:
            return "", None
        device_id = normalise_device_id(device_id)
        if not device_id:
            return "", None  # nothing to bind a token to
        if self.devices.is_activated(device_id):
            return self.devices.issue(device_id), None
        code = self.devices.activation_code(device_id)
        self._log_waiting(device_id)
        block = {
            "code": code,
            "message": f"xiaozhi-ops\n{code}",
            "challenge": device_id,
            "timeout_ms": ACTIVATION_TIMEOUT_MS,
        }
        return "", block

    def activated(self, device_id: str) -> bool:
        if not self.token_mode:
            return True
        return self.devices is not None and self.devices.is_activated(device_id)


class MqttOta(Protocol):
    """server.mqtt.service.MqttService: per-device ``mqtt`` blocks."""

    def ota_block(
        self, device_id: str, uuid: str, board: str, request_host: str, app_version: str | None
    ) -> dict[str, Any] | None: ...

    def setup_routes(self, app: web.Application) -> None: ...


def _board(user_agent: str, body: dict[str, Any]) -> str:
    board = body.get("board")
    if isinstance(board, dict) and isinstance(board.get("type"), str):
        return str(board["type"])
    return user_agent.split("/", 1)[0]


def setup_ota(
    app: web.Application,
    settings: Settings,
    devices: DeviceCredentials | None = None,
    mqtt: MqttOta | None = None,
) -> None:
    activation = _Activation(settings, devices)

    async def ota(request: web.Request) -> web.Response:
        body = await request.read() if request.can_read_body else b""
        req = parse_ota_request(request.headers, body)
        if req.body_error:
            log.info(
                "OTA check from %s with unusable body: %s", req.device_id or request.remote, req.body_error
            )
        token, block = activation.token_and_block(req.device_id)
        reply = build_ota_response(req, ota_config(settings, request.host, token), datetime.now(UTC))
        if block is not None:
            reply["activation"] = block
        elif mqtt is not None and settings.mqtt_enabled and req.device_id:
            mqtt_block = mqtt.ota_block(
                req.device_id,
                req.client_id,
                _board(req.user_agent, req.body),
                _strip_port(request.host or ""),
                req.app_version,
            )
            if mqtt_block is not None:  # never both: the device picks MQTT when the block is present
                reply.pop("websocket", None)
                reply["mqtt"] = mqtt_block
        log.info("OTA check from %s (firmware %s)", req.device_id or request.remote, req.app_version)
        return web.json_response(reply)

    async def activate(request: web.Request) -> web.Response:
        body = await request.read()
        device_id = request.headers.get("Device-Id", "")
        if not device_id:
            try:
                parsed = json.loads(body) if body else {}
            except (json.JSONDecodeError, UnicodeDecodeError):
                parsed = {}
            if isinstance(parsed, dict) and isinstance(parsed.get("challenge"), str):
                device_id = parsed["challenge"]
        if activation.activated(device_id):
            return web.json_response({"status": "activated"})
        return web.json_response({"status": "waiting for activation"}, status=202)

    for path in OTA_PATHS:
        app.router.add_get(path, ota)
        app.router.add_post(path, ota)
    for path in ACTIVATE_PATHS:
        app.router.add_post(path, activate)
