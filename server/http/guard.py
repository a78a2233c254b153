"""The HTTP trust boundary, as one aiohttp middleware plus the policy it enforces.

- CORS exists only on the OTA endpoints the xiaozhi test page calls (no credentials); no other route gets
  ``Access-Control-*`` headers, so a web page cannot read any API answer cross-origin.
- A state-changing request (POST/PUT/PATCH/DELETE) with an ``Origin`` that is not this server's own origin on an
  allowed host (or a configured console origin) is refused with 403, on every route but the OTA ones.
- ``/api/`` answers only to an allowed ``Host`` (configured names, localhost, this machine's names and addresses):
  a DNS-rebinding page cannot reach it. OTA, webhooks and device paths are reached by IP, so they are not checked.
- ``/api/`` requires an authenticated principal (bearer token today, a console session later); nothing is
  trusted because of the address it came from.
- Failed authentication (API tokens, webhook BasicAuth / path tokens) is throttled per source address: the
  client's, also behind a trusted reverse proxy (server/http/client_address.py; the outermost middleware puts it
  in ``request.remote`` for every handler and log line).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from server.auth.principal import Principal, Via
from server.auth.throttle import AuthThrottle
from server.auth.tokens import ApiTokens
from server.http.client_address import TrustedProxies
from server.vault.auth import PRINCIPAL_KEY, bearer_token, unauthenticated

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CORS_PATHS = frozenset({"/xiaozhi/ota/", "/xiaozhi/ota", "/xiaozhi/ota/activate"})
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": (
        "activation-version, client-id, content-type, device-id, protocol-version, serial-number, "
        "accept-language"
    ),
    "Access-Control-Max-Age": "86400",
}
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_PREFIX = "/api/"
THROTTLED_PREFIXES = (API_PREFIX, "/webhooks/")
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def normalise_host(host: str) -> str:
    """``Host`` header or URL authority → lower-case name without port, brackets or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def machine_names() -> set[str]:
    """This machine's host names and the addresses they resolve to (best effort, no network needed)."""
    names: set[str] = set()
    for name in {socket.gethostname(), socket.getfqdn()}:
        if not name:
            continue
        names.add(name.lower())
        try:
            for info in socket.getaddrinfo(name, None):
                names.add(str(info[4][0]).split("%", 1)[0].lower())
        except OSError:
            pass
    return names


class SessionAuth(Protocol):
    """The web console's session cookie (server.console.sessions.ConsoleSessions)."""

    def principal_for(self, request: web.Request) -> Principal | None: ...

    def csrf_ok(self, request: web.Request) -> bool: ...


def _is_api(path: str) -> bool:
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


@dataclass
class HttpPolicy:
    tokens: ApiTokens
    allowed_hosts: frozenset[str]
    console_origins: frozenset[str] = frozenset()
    throttle: AuthThrottle = field(default_factory=AuthThrottle)
    sessions: SessionAuth | None = None  # set by the web console (server.console.routes)
    proxies: TrustedProxies = field(default_factory=TrustedProxies)  # none trusted unless configured

    @classmethod
    def build(
        cls,
        tokens: ApiTokens,
        *,
        extra_hosts: Iterable[str] = (),
        console_origins: Iterable[str] = (),
        throttle: AuthThrottle | None = None,
        proxies: TrustedProxies | None = None,
    ) -> HttpPolicy:
        hosts = {normalise_host(h) for h in extra_hosts if h.strip()} | set(LOCAL_NAMES) | machine_names()
        origins = {o.strip().rstrip("/").lower() for o in console_origins if o.strip()}
        return cls(
            tokens,
            frozenset(hosts),
            frozenset(origins),
            throttle or AuthThrottle(),
            proxies=proxies or TrustedProxies(),
        )

    # -- checks (pure, each on its own) -------------------------------------------------------------

    def host_allowed(self, request: web.Request) -> bool:
        return self.host_ok(request.host, _local_address(request))

    def origin_allowed(self, request: web.Request) -> bool:
        return self.origin_ok(request.headers.get("Origin"), request.host, _local_address(request))

    def host_ok(self, host: str, local_address: str | None) -> bool:
        """``host``: the Host header; ``local_address``: the address the client connected to (one of ours)."""
        name = normalise_host(host)
        if name in self.allowed_hosts:
            return True
        if local_address:
            try:
                return ipaddress.ip_address(name) == ipaddress.ip_address(local_address.split("%", 1)[0])
            except ValueError:
                return False
        return False

    def origin_ok(self, origin: str | None, host: str, local_address: str | None) -> bool:
        if origin is None:
            return True  # not a browser's cross-origin request (servers, devices, curl)
        normalised = origin.strip().rstrip("/").lower()
        if normalised in self.console_origins:
            return True
        try:
            parts = urlsplit(normalised)
            origin_port = parts.port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False  # "null", file:, extensions...
        default = 443 if parts.scheme == "https" else 80
        authority = host.strip().lower()
        port_text = authority.rsplit(":", 1)[1] if ":" in authority.rsplit("]", 1)[-1] else ""
        host_port = int(port_text) if port_text.isdigit() else default
        same = (
            parts.hostname.rstrip(".") == normalise_host(authority) and (origin_port or default) == host_port
        )
        return same and self.host_ok(host, local_address)


def _local_address(request: web.Request) -> str | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return str(sockname[0]) if sockname else None


def install_http_guard(app: web.Application, policy: HttpPolicy) -> None:
    app.middlewares.insert(0, client_address_middleware(policy))
    app.middlewares.append(_middleware(policy))


def client_address_middleware(policy: HttpPolicy) -> Middleware:
    """Outermost: behind a trusted proxy, the handlers (and their log lines) see the client in ``request.remote``."""

    @web.middleware
    async def client_address(request: web.Request, handler: Handler) -> web.StreamResponse:
        proxies = policy.proxies
        if proxies.enabled:
            client = proxies.client(request.remote, request.headers.getall(proxies.header.value, []))
            if client != request.remote:
                request = request.clone(remote=client)
        return await handler(request)

    return client_address


def _forbidden(message: str) -> web.Response:
    return web.json_response({"error": message}, status=403)


def _middleware(policy: HttpPolicy) -> Middleware:
    @web.middleware
    async def http_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in CORS_PATHS:
            return await _with_cors(request, handler)
        source = request.remote or "?"
        throttled = path.startswith(THROTTLED_PREFIXES)
        if throttled:
            wait = policy.throttle.retry_after(source)
            if wait > 0:
                return web.json_response(
                    {"error": "too many failed authentication attempts; try again later"},
                    status=429,
                    headers={"Retry-After": str(int(wait) + 1)},
                )
        if request.method in STATE_CHANGING and not policy.origin_allowed(request):
            log.info(
                "refused cross-origin %s %s from Origin %.80s",
                request.method,
                path,
                request.headers["Origin"],
            )
            return _forbidden("cross-origin requests are not accepted here")
        if _is_api(path):
            if not policy.host_allowed(request):
                return _forbidden("this API answers only to a configured or local Host name")
            principal = _authenticate(request, policy)
            if principal is None:
                policy.throttle.failed(source, "the API token")
                return unauthenticated()
            session_write = principal.via is Via.SESSION and request.method in STATE_CHANGING
            if session_write and (policy.sessions is None or not policy.sessions.csrf_ok(request)):
                return _forbidden("missing or wrong CSRF token (X-CSRF-Token header)")
            policy.throttle.succeeded(source)
            request[PRINCIPAL_KEY] = principal
        response = await handler(request)
        if throttled and response.status == 401:  # webhook BasicAuth / path token refused by its handler
            policy.throttle.failed(
                source, f"{path.split('/')[2] if path.count('/') > 1 else path} credentials"
            )
        return response

    return http_guard


def _authenticate(request: web.Request, policy: HttpPolicy) -> Principal | None:
    principal = policy.tokens.principal_for(bearer_token(request))
    if principal is None and policy.sessions is not None:
        principal = policy.sessions.principal_for(request)  # the console's cookie (Via.SESSION)
    return principal


async def _with_cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The OTA endpoints: answer the preflight and put CORS headers on every answer, errors included."""
    if request.method == "OPTIONS":
        return web.Response(status=204, headers=CORS_HEADERS)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(CORS_HEADERS)
        raise
    response.headers.update(CORS_HEADERS)
    return response
