"""OTA / activation endpoints the firmware calls at every boot (reference §5).

``/xiaozhi/ota/`` and ``/xiaozhi/ota`` (GET or POST) answer with server time, a "no update" firmware block
and the websocket block, and never an ``mqtt`` block (its presence makes the device choose MQTT).
``/activate`` answers 200 (activated): this server issues no activation challenge.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web

from firmware_bridge.ota import OtaConfig, build_ota_response, parse_ota_request
from server.config import Settings

log = logging.getLogger(__name__)

OTA_PATHS = ("/xiaozhi/ota/", "/xiaozhi/ota")
ACTIVATE_PATHS = ("/xiaozhi/ota/activate", "/xiaozhi/ota/activate/")


def ws_url(settings: Settings, request_host: str | None) -> str:
    """The URL devices should open: public_host if set, else the host the device used to reach us."""
    host = settings.public_host or _strip_port(request_host or "") or "127.0.0.1"
    return f"ws://{host}:{settings.ws_port}/xiaozhi/v1/"


def _strip_port(host: str) -> str:
    if host.startswith("["):  # [ipv6]:port
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def ota_config(settings: Settings, request_host: str | None) -> OtaConfig:
    tokens = settings.token_list()
    return OtaConfig(
        ws_url=ws_url(settings, request_host),
        token=tokens[0] if settings.auth_mode == "token" and tokens else "",
        ws_version=1,
        firmware_version=settings.firmware_version,
        timezone=settings.timezone,
    )


def setup_ota(app: web.Application, settings: Settings) -> None:
    async def ota(request: web.Request) -> web.Response:
        body = await request.read() if request.can_read_body else b""
        req = parse_ota_request(request.headers, body)
        if req.body_error:
            log.info(
                "OTA check from %s with unusable body: %s", req.device_id or request.remote, req.body_error
            )
        reply = build_ota_response(req, ota_config(settings, request.host), datetime.now(UTC))
        log.info("OTA check from %s (firmware %s)", req.device_id or request.remote, req.app_version)
        return web.json_response(reply)

    async def activate(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "activated"})

    for path in OTA_PATHS:
        app.router.add_get(path, ota)
        app.router.add_post(path, ota)
    for path in ACTIVATE_PATHS:
        app.router.add_post(path, activate)
