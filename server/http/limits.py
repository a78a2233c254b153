"""Bounded HTTP connections: request header/body timeouts and a connection cap answered with 503.

aiohttp has no header or body read timeout, so a client that sends its headers a byte at a time holds a file
descriptor for ever; enough of them exhaust the process (OTA, webhooks and devices all stop). Here:

- ``GuardedTCPSite`` wraps every connection's protocol: beyond the cap a new connection gets an immediate
  ``503`` and is closed (the cap sits well below the open-file limit, so we answer instead of failing accept());
  a connection whose request headers are not complete within ``header_timeout_s`` (from connect, or from the first
  byte of its next request on a kept-alive connection; idle keep-alive is aiohttp's own timeout) is closed; so is one whose body is not complete ``body_timeout_s`` after its headers.
- ``limits_middleware`` tells the connection when headers are done and when the handler finished.
- ``uvicorn_limits`` gives the MCP server (uvicorn) the same: a protocol class with the same timeouts and
  uvicorn's own ``limit_concurrency`` (503).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Retry-After: 5\r\nContent-Length: 35\r\n\r\n"
    b'{"error": "too many connections"}\r\n'
)
_FD_RESERVE = 64


@dataclass(frozen=True)
class HttpLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_connections: int = 512

    @classmethod
    def from_settings(cls, settings: Any) -> HttpLimits:
        return cls(
            header_timeout_s=float(getattr(settings, "http_header_timeout_s", 10.0)),
            body_timeout_s=float(getattr(settings, "http_body_timeout_s", 60.0)),
            max_connections=int(getattr(settings, "http_max_connections", 512)),
        )

    @property
    def connection_cap(self) -> int:
        """The configured cap, but never more than half the open-file limit (the rest: devices, DB, logs)."""
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY or soft <= 0:
            return self.max_connections
        return max(1, min(self.max_connections, (soft - _FD_RESERVE) // 2))


class _LogOnce:
    """One warning per reason per minute, with a count of what was suppressed."""

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, reason: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last, suppressed = self._last.get(reason, (float("-inf"), 0))
        if now - last >= self.every_s:
            more = f" (+{suppressed} similar since the last line)" if suppressed else ""
            log.warning(message + more, *args)
            self._last[reason] = (now, 0)
        else:
            self._last[reason] = (last, suppressed + 1)


class ConnectionGuard:
    """Counts open connections of one listening site and enforces the timeouts on each."""

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.cap = limits.connection_cap
        self.open = 0
        self.refused = 0
        self.by_transport: dict[asyncio.BaseTransport, _GuardedProtocol] = {}
        self.warn = _LogOnce()

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        def make() -> asyncio.Protocol:
            return _GuardedProtocol(factory, self)

        return make


class _GuardedProtocol(asyncio.Protocol):
    """Sits between the transport and aiohttp's RequestHandler, which it creates only for admitted connections."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], guard: ConnectionGuard) -> None:
        self._factory = factory
        self._guard = guard
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.in_request = False
        self.idle = (
            False  # between requests on a kept-alive connection (aiohttp's keep-alive timeout applies)
        )

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        guard = self._guard
        if guard.open >= guard.cap:
            guard.refused += 1
            peer = transport.get_extra_info("peername")
            guard.warn(
                "cap", "HTTP connection cap (%d) reached: answering 503 (latest from %s)", guard.cap, peer
            )
            transport.write(_BUSY)
            transport.close()
            return
        guard.open += 1
        guard.by_transport[transport] = self
        self._inner = self._factory()
        self._inner.connection_made(transport)
        self.arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self._inner is None:
            return
        self._guard.open -= 1
        if self._transport is not None:
            self._guard.by_transport.pop(self._transport, None)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.idle:  # the first byte of the next request on a kept-alive connection: its headers are due
            self.arm_header_timer()
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    # -- timers
    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def arm_header_timer(self) -> None:
        self._cancel()
        self.in_request = self.idle = False
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.limits.header_timeout_s, self._header_expired)

    def request_done(self) -> None:
        self._cancel()
        self.in_request, self.idle = False, True

    def headers_done(self, request: web.Request) -> None:
        self._cancel()
        self.in_request, self.idle = True, False
        if request.body_exists:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._guard.limits.body_timeout_s, self._body_expired, request)

    def _header_expired(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or self.in_request:
            return
        if transport.get_write_buffer_size() > 0:  # still sending the previous response to a slow reader
            self.arm_header_timer()
            return
        self._guard.warn(
            "headers",
            "closed an HTTP connection from %s: no complete request headers within %.0fs",
            transport.get_extra_info("peername"),
            self._guard.limits.header_timeout_s,
        )
        transport.close()

    def _body_expired(self, request: web.Request) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or request.content.at_eof():
            return
        self._guard.warn(
            "body",
            "closed an HTTP connection from %s: request body not complete within %.0fs",
            transport.get_extra_info("peername"),
            self._guard.limits.body_timeout_s,
        )
        transport.close()


def limits_middleware(
    guard: ConnectionGuard,
) -> Middleware:
    @web.middleware
    async def limits(request: web.Request, handler: Handler) -> web.StreamResponse:
        conn = guard.by_transport.get(request.transport) if request.transport else None
        if conn is None:
            return await handler(request)
        conn.headers_done(request)
        try:
            return await handler(request)
        finally:
            conn.request_done()

    return limits


CONNECTION_GUARD_KEY = web.AppKey("connection_guard", ConnectionGuard)


def install_limits(app: web.Application, limits: HttpLimits) -> ConnectionGuard:
    """Add the middleware to ``app``; serve it with ``GuardedTCPSite`` so connections are wrapped."""
    guard = ConnectionGuard(limits)
    app[CONNECTION_GUARD_KEY] = guard
    app.middlewares.insert(0, limits_middleware(guard))
    return guard


class GuardedTCPSite(web.TCPSite):
    """A TCPSite whose connections go through the app's ConnectionGuard (see ``install_limits``)."""

    def __init__(self, runner: web.AppRunner, host: str | None, port: int | None, **kw: Any) -> None:
        super().__init__(runner, host, port, **kw)
        self.guard = runner.app.get(CONNECTION_GUARD_KEY) if isinstance(runner, web.AppRunner) else None
        if self.guard is None:
            raise ValueError("the app has no ConnectionGuard: call install_limits(app, limits) first")

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None and self.guard is not None
        self._server = await loop.create_server(
            self.guard.wrap(server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]
        else:
            self._bound_port = self._port

    @property
    def bound_port(self) -> int:
        return self.port


# ------------------------------------------------------------------------------------------- uvicorn (MCP)


def uvicorn_limits(settings: Any) -> dict[str, Any]:
    """uvicorn.Config keyword arguments: the same timeouts (a protocol class) and connection cap (503)."""
    limits = HttpLimits.from_settings(settings)
    return {
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: AsgiGuard decides that (XOPS_TRUSTED_PROXIES)
        "proxy_headers": False,
        "http": _uvicorn_protocol(limits),
        "limit_concurrency": limits.connection_cap,
        "timeout_keep_alive": 5,
    }


def _uvicorn_protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    warn = _LogOnce()

    class GuardedH11Protocol(H11Protocol):
        _xops_timer: asyncio.TimerHandle | None = None

        def _xops_arm(self, seconds: float, callback: Callable[[], None]) -> None:
            if self._xops_timer is not None:
                self._xops_timer.cancel()
            self._xops_timer = self.loop.call_later(seconds, callback)

        def _xops_waiting_for_headers(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _xops_header_expired(self) -> None:
            if self.transport.is_closing() or not self._xops_waiting_for_headers():
                return
            warn("headers", "closed an MCP HTTP connection from %s: no complete request headers within %.0fs",
                 self.client, limits.header_timeout_s)  # fmt: skip
            self.transport.close()

        def _xops_body_expired(self) -> None:
            cycle = self.cycle
            if self.transport.is_closing() or cycle is None or not cycle.more_body:
                return
            warn("body", "closed an MCP HTTP connection from %s: request body not complete within %.0fs",
                 self.client, limits.body_timeout_s)  # fmt: skip
            self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._xops_arm(limits.header_timeout_s, self._xops_header_expired)

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not None and self.cycle is not before and not self.cycle.response_complete:
                self._xops_arm(limits.body_timeout_s, self._xops_body_expired)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._xops_arm(limits.header_timeout_s, self._xops_header_expired)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._xops_timer is not None:
                self._xops_timer.cancel()
            super().connection_lost(exc)

    return GuardedH11Protocol
