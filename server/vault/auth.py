"""Permission guards for route handlers, on top of the HTTP guard middleware (server/http/guard.py).

The middleware authenticates every /api request and stores the ``Principal`` on the request. A handler wrapped
here also checks the permission it needs; mounted without the middleware, it checks the bearer token itself,
so a route is never open by accident. Nothing is trusted because of where it came from (loopback included).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from server.auth.principal import Permission, Principal
from server.auth.tokens import ApiTokens

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PRINCIPAL_KEY = web.RequestKey("principal", Principal)


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-Admin-Token", "").strip()


def principal_of(request: web.Request, tokens: ApiTokens | None = None) -> Principal | None:
    """The authenticated principal: set by the middleware, else checked here against ``tokens``."""
    found = request.get(PRINCIPAL_KEY)
    if found is None and tokens is not None:
        found = tokens.principal_for(bearer_token(request))
    return found


def unauthenticated() -> web.Response:
    return web.json_response(
        {"error": "authentication required: Authorization: Bearer <admin token>"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="xiaozhi-ops"'},
    )


def forbidden(principal: Principal, permission: Permission) -> web.Response:
    return web.json_response({"error": f"role '{principal.role}' may not {permission.value}"}, status=403)


def requires(permission: Permission, admin_token: str = "") -> Callable[[Handler], Handler]:
    tokens = ApiTokens(admin=admin_token) if admin_token else None

    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            principal = principal_of(request, tokens)
            if principal is None:
                return unauthenticated()
            if not principal.may(permission):
                return forbidden(principal, permission)
            return await handler(request)

        return guarded

    return wrap


def admin_only(admin_token: str = "") -> Callable[[Handler], Handler]:
    """Configuration endpoints (owners, voiceprints, credentials, device tokens)."""
    return requires(Permission.CONFIGURE, admin_token)
