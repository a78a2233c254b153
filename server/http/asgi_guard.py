"""The HTTP guard for ASGI apps (MCP over streamable HTTP): the same policy as the aiohttp middleware.

Host allow-list, foreign-Origin refusal, bearer authentication with failed-auth throttling (per client, also
behind a trusted reverse proxy: uvicorn's own proxy-header handling is off, see ``uvicorn_limits``); no CORS at all.
The authenticated ``Principal`` is put in the ASGI scope under ``PRINCIPAL_SCOPE_KEY`` for the app to use.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from server.http.guard import STATE_CHANGING, HttpPolicy

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PRINCIPAL_SCOPE_KEY = "xops.principal"


class AsgiGuard:
    def __init__(self, app: ASGIApp, policy: HttpPolicy, what: str = "the MCP token") -> None:
        self.app = app
        self.policy = policy
        self.what = what

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for key, value in scope.get("headers") or ():
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        client = scope.get("client")
        proxies = self.policy.proxies
        source = proxies.client(
            str(client[0]) if client else None,
            [
                v.decode("latin-1")
                for k, v in scope.get("headers") or ()
                if k.lower() == proxies.header.encode()
            ],
        )
        if client and source != str(client[0]):
            scope["client"] = (source, 0)  # the app's own view (and logs) of who is calling
        server = scope.get("server")
        local = str(server[0]) if server else None
        host = headers.get("host", "")
        wait = self.policy.throttle.retry_after(source)
        if wait > 0:
            await _reply(send, 429, "too many failed authentication attempts; try again later",
                         [(b"retry-after", str(int(wait) + 1).encode())])  # fmt: skip
            return
        if not self.policy.host_ok(host, local):
            await _reply(send, 403, "this endpoint answers only to a configured or local Host name")
            return
        if scope.get("method", "GET") in STATE_CHANGING and not self.policy.origin_ok(
            headers.get("origin"), host, local
        ):
            await _reply(send, 403, "cross-origin requests are not accepted here")
            return
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        principal = self.policy.tokens.principal_for(token)
        if principal is None:
            self.policy.throttle.failed(source, self.what)
            await _reply(send, 401, "authentication required: Authorization: Bearer <admin token>",
                         [(b"www-authenticate", b'Bearer realm="xiaozhi-ops"')])  # fmt: skip
            return
        self.policy.throttle.succeeded(source)
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, receive, send)


async def _reply(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})
