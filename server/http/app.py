"""The aiohttp application: /healthz, /metrics, OTA, plus routes of other parts, behind the HTTP guard
(CORS on OTA only, Origin and Host checks, authentication on /api; see server/http/guard.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.auth.devices import DeviceCredentials
from server.auth.throttle import AuthThrottle
from server.auth.tokens import ApiTokens, admin_token
from server.config import Settings
from server.http.client_address import TrustedProxies
from server.http.devices import setup_device_routes
from server.http.guard import HttpPolicy, install_http_guard
from server.http.limits import HttpLimits, install_limits
from server.http.ota import MqttOta, setup_ota
from server.voice.registry import DeviceRegistry

SETTINGS_KEY = web.AppKey("settings", Settings)
REGISTRY_KEY = web.AppKey("registry", DeviceRegistry)
POLICY_KEY = web.AppKey("http_policy", HttpPolicy)


def policy_from_settings(settings: Settings) -> HttpPolicy:
    """Admin token from the settings or generated under the data dir (printed once)."""
    tokens = ApiTokens(
        admin=admin_token(settings.admin_token.get_secret_value(), settings.data_dir),
        operator=settings.operator_token.get_secret_value().strip(),
    )
    hosts = [h for h in settings.allowed_hosts.split(",") if h.strip()]
    if settings.public_host:
        hosts.append(settings.public_host)
    return HttpPolicy.build(
        tokens,
        extra_hosts=hosts,
        console_origins=[o for o in settings.console_origins.split(",") if o.strip()],
        throttle=AuthThrottle(max_failures=settings.auth_max_failures, lockout_s=settings.auth_lockout_s),
        proxies=TrustedProxies.from_settings(settings),
    )


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
    policy: HttpPolicy | None = None,
    devices: DeviceCredentials | None = None,
    mqtt: MqttOta | None = None,
) -> web.Application:
    """``client_max_size`` caps request bodies; routes with tighter needs (webhooks) cap their own.
    ``devices``: the per-device token store (token mode OTA, /api/devices); without it OTA gives no token."""
    policy = policy or policy_from_settings(settings)
    app = web.Application(client_max_size=client_max_size)
    install_http_guard(app, policy)
    install_limits(app, HttpLimits.from_settings(settings))  # serve with server.http.limits.GuardedTCPSite
    app[SETTINGS_KEY] = settings
    app[REGISTRY_KEY] = registry
    app[POLICY_KEY] = policy
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    setup_ota(app, settings, devices, mqtt)
    if mqtt is not None:
        mqtt.setup_routes(app)  # notify audio for MQTT devices
    if devices is not None:
        setup_device_routes(app, devices)
    for setup in extra_setup:
        setup(app)
    return app
