"""Shared helpers for tests that call the HTTP API: every /api request needs an authenticated principal."""

from __future__ import annotations

from aiohttp import web

from server.auth.throttle import AuthThrottle
from server.auth.tokens import ApiTokens
from server.http.guard import HttpPolicy, install_http_guard

ADMIN_TOKEN = "test-admin-token-5a1f0c9e7b"
OPERATOR_TOKEN = "test-operator-token-3e8d2b"


def bearer(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_TOKEN)
OPERATOR = bearer(OPERATOR_TOKEN)


def api_policy(throttle: AuthThrottle | None = None, **kw: object) -> HttpPolicy:
    return HttpPolicy.build(
        ApiTokens(admin=ADMIN_TOKEN, operator=OPERATOR_TOKEN),
        throttle=throttle,
        **kw,  # type: ignore[arg-type]
    )


def guarded_app(policy: HttpPolicy | None = None, **app_kw: object) -> web.Application:
    """An aiohttp app behind the real HTTP guard, with the test admin/operator tokens."""
    app = web.Application(**app_kw)  # type: ignore[arg-type]
    install_http_guard(app, policy or api_policy())
    return app
