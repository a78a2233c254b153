"""The aiohttp application: CORS for browser clients, /healthz, /metrics, OTA, plus routes of other parts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.config import Settings
from server.http.ota import setup_ota
from server.voice.registry import DeviceRegistry

SETTINGS_KEY = web.AppKey("settings", Settings)
REGISTRY_KEY = web.AppKey("registry", DeviceRegistry)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "client-id, content-type, device-id, authorization, protocol-version",
    "Access-Control-Max-Age": "86400",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every preflight and put CORS headers on every response, errors included: the browser test
    page calls the OTA endpoint cross-origin with device-id/client-id headers."""
    if request.method == "OPTIONS":
        return web.Response(status=204, headers=CORS_HEADERS)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(CORS_HEADERS)
        raise
    response.headers.update(CORS_HEADERS)
    return response


async def healthz(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY_KEY]
    return web.json_response({"status": "ok", "devices_online": len(registry.online())})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_http_app(
    settings: Settings,
    registry: DeviceRegistry,
    extra_setup: Iterable[Callable[[web.Application], None]] = (),
    client_max_size: int = 1024**2,
) -> web.Application:
    """``client_max_size`` caps request bodies; routes with tighter needs (webhooks) cap their own."""
    app = web.Application(middlewares=[cors_middleware], client_max_size=client_max_size)
    app[SETTINGS_KEY] = settings
    app[REGISTRY_KEY] = registry
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    setup_ota(app, settings)
    for setup in extra_setup:
        setup(app)
    return app
