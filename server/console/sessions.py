"""Console sessions: an admin/operator token exchanged once for an HttpOnly cookie, plus a CSRF token.

The session id lives only in the cookie (HttpOnly, SameSite=Strict, Secure when configured); the CSRF token is
handed to the page's script and must come back in the ``X-CSRF-Token`` header on every state-changing request
(synchronizer token, compared server-side in constant time).

Sessions are rows of the service database, so a restart or another instance on the same database keeps them. A
row holds the SHA-256 of the session id, never the id itself: whoever reads the database cannot log in with it
(the id is 256 random bits, so a plain hash cannot be reversed). Expired rows are purged at each login, logout
deletes the row, and the oldest sessions beyond ``max_sessions`` are dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import Column, DateTime, String, Table, delete, func, insert, select

from server.auth.principal import Principal, Role, Via
from server.config import Settings
from server.storage.db import Database, fit_text, metadata

log = logging.getLogger(__name__)

COOKIE_NAME = "xops_console"
CSRF_HEADER = "X-CSRF-Token"
_SESSION_KEY: web.RequestKey[ConsoleSession | None] = web.RequestKey(
    "console_session"
)  # one lookup a request

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("sid_hash", String(64), primary_key=True),
    Column("csrf", String(64), nullable=False),
    Column("principal", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


def sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _seconds(dt: datetime) -> float:
    return (dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt).timestamp()  # SQLite reads back naive UTC


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    principal: Principal
    csrf: str
    expires_at: float  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    secure: bool = False  # True behind https (XOPS_CONSOLE_SECURE_COOKIE)
    max_age_s: int = 8 * 3600
    path: str = "/"

    @classmethod
    def from_settings(cls, settings: Settings) -> CookiePolicy:
        return cls(
            secure=settings.console_secure_cookie, max_age_s=int(settings.console_session_hours * 3600)
        )


class ConsoleSessions:
    """Session id → session, in the database; bounded (the oldest are dropped) and expiring."""

    def __init__(
        self,
        db: Database,
        cookie: CookiePolicy | None = None,
        *,
        max_sessions: int = 1000,
        clock: Callable[[], float] = time.time,  # wall clock: expiry must mean the same after a restart
    ) -> None:
        self.db = db
        self.cookie = cookie or CookiePolicy()
        self.max_sessions = max_sessions
        self.clock = clock

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> ConsoleSessions:
        return cls(db, CookiePolicy.from_settings(settings))

    def create(self, principal: Principal) -> tuple[str, ConsoleSession]:
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        session = ConsoleSession(
            principal=Principal(principal.name, principal.role, Via.SESSION),
            csrf=secrets.token_urlsafe(32),
            expires_at=now + self.cookie.max_age_s,
        )
        t = console_sessions
        with self.db.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.expires_at <= _utc(now)))
            conn.execute(
                insert(t).values(
                    sid_hash=sid_hash(sid),
                    csrf=session.csrf,
                    principal=fit_text(principal.name, 128),
                    role=principal.role.value,
                    created_at=_utc(now),
                    expires_at=_utc(session.expires_at),
                )
            )
            count = conn.execute(select(func.count()).select_from(t)).scalar_one()
            if count > self.max_sessions:
                oldest = select(t.c.sid_hash).order_by(t.c.created_at).limit(count - self.max_sessions)
                conn.execute(delete(t).where(t.c.sid_hash.in_(oldest.scalar_subquery())))
        return sid, session

    def get(self, sid: str) -> ConsoleSession | None:
        if not sid:
            return None
        t = console_sessions
        with self.db.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.sid_hash == sid_hash(sid))).first()
        if row is None:
            return None
        expires_at = _seconds(row.expires_at)
        try:
            role = Role(row.role)
        except ValueError:
            log.warning("console session with an unknown role %.16r ignored", row.role)
            return None
        if expires_at <= self.clock():
            self.drop(sid)
            return None
        return ConsoleSession(Principal(row.principal, role, Via.SESSION), row.csrf, expires_at)

    def drop(self, sid: str) -> None:
        if sid:
            with self.db.engine.begin() as conn:
                conn.execute(delete(console_sessions).where(console_sessions.c.sid_hash == sid_hash(sid)))

    # -- the hooks the HTTP guard calls (server.http.guard.SessionAuth) -------------------------------

    def session_of(self, request: web.Request) -> ConsoleSession | None:
        if _SESSION_KEY in request:
            return request[_SESSION_KEY]
        session = self.get(request.cookies.get(COOKIE_NAME, ""))
        request[_SESSION_KEY] = session
        return session

    def principal_for(self, request: web.Request) -> Principal | None:
        session = self.session_of(request)
        return session.principal if session else None

    def csrf_ok(self, request: web.Request) -> bool:
        session = self.session_of(request)
        supplied = request.headers.get(CSRF_HEADER, "")
        if session is None or not supplied:
            return False
        return hmac.compare_digest(supplied.encode(), session.csrf.encode())

    def logout(self, request: web.Request) -> None:
        self.drop(request.cookies.get(COOKIE_NAME, ""))
        request[_SESSION_KEY] = None

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
        return "ConsoleSessions(<in the database>)"
