"""Admin guard for the owner/credential API: a bearer token, or loopback-only when no token is configured."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def is_authorised(request: web.Request, admin_token: str) -> bool:
    if not admin_token:
        return _is_loopback(request.remote)
    header = request.headers.get("Authorization", "")
    supplied = (
        header[7:].strip()
        if header.lower().startswith("bearer ")
        else request.headers.get("X-Admin-Token", "")
    )
    return bool(supplied) and hmac.compare_digest(supplied.encode(), admin_token.encode())


def admin_only(admin_token: str) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not is_authorised(request, admin_token):
                reason = "admin token required" if admin_token else "only local clients may call this API"
                return web.json_response({"error": reason}, status=401 if admin_token else 403)
            return await handler(request)

        return guarded

    return wrap
