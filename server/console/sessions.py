"""Console sessions: an admin/operator token exchanged once for an HttpOnly cookie, plus a CSRF token.

The session id lives only in the cookie (HttpOnly, SameSite=Strict, Secure when configured); the CSRF token is
handed to the page's script and must come back in the ``X-CSRF-Token`` header on every state-changing request
(synchronizer token, compared server-side in constant time). Sessions are in memory: a restart logs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from aiohttp import web

from server.auth.principal import Principal, Via

COOKIE_NAME = "xops_console"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    principal: Principal
    csrf: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    secure: bool = False  # True behind https (XOPS_CONSOLE_SECURE_COOKIE)
    max_age_s: int = 8 * 3600
    path: str = "/"


class ConsoleSessions:
    """Session id → session, bounded (the oldest are dropped) and expiring."""

    def __init__(
        self,
        cookie: CookiePolicy | None = None,
        *,
        max_sessions: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cookie = cookie or CookiePolicy()
        self.max_sessions = max_sessions
        self.clock = clock
        self._sessions: OrderedDict[str, ConsoleSession] = OrderedDict()

    def create(self, principal: Principal) -> tuple[str, ConsoleSession]:
        sid = secrets.token_urlsafe(32)
        session = ConsoleSession(
            principal=replace(principal, via=Via.SESSION),
            csrf=secrets.token_urlsafe(32),
            expires_at=self.clock() + self.cookie.max_age_s,
        )
        self._sessions[sid] = session
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return sid, session

    def get(self, sid: str) -> ConsoleSession | None:
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        if session.expires_at <= self.clock():
            self._sessions.pop(sid, None)
            return None
        return session

    def drop(self, sid: str) -> None:
        self._sessions.pop(sid, None)

    # -- the hooks the HTTP guard calls (server.http.guard.SessionAuth) -------------------------------

    def session_of(self, request: web.Request) -> ConsoleSession | None:
        return self.get(request.cookies.get(COOKIE_NAME, ""))

    def principal_for(self, request: web.Request) -> Principal | None:
        session = self.session_of(request)
        return session.principal if session else None

    def csrf_ok(self, request: web.Request) -> bool:
        session = self.session_of(request)
        supplied = request.headers.get(CSRF_HEADER, "")
        if session is None or not supplied:
            return False
        return hmac.compare_digest(supplied.encode(), session.csrf.encode())

    # -- cookies -------------------------------------------------------------------------------------

    def set_cookie(self, response: web.StreamResponse, sid: str, *, over_tls: bool = False) -> None:
        """``over_tls``: the login itself came over https (then the cookie is Secure whatever the setting)."""
        response.set_cookie(
            COOKIE_NAME,
            sid,
            max_age=self.cookie.max_age_s,
            path=self.cookie.path,
            httponly=True,
            secure=self.cookie.secure or over_tls,
            samesite="Strict",
        )

    def clear_cookie(self, response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE_NAME, path=self.cookie.path)

    def __repr__(self) -> str:
        return f"ConsoleSessions(<{len(self._sessions)} hidden>)"
