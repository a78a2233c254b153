"""Console sessions live in the service database: a restart or another instance keeps them, logout and expiry end
them everywhere, and the database never holds the cookie value. Run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from server.auth.principal import Principal, Role, Via
from server.auth.throttle import AuthThrottle
from server.config import Settings
from server.console.routes import setup_console
from server.console.services import ConsoleServices
from server.console.sessions import COOKIE_NAME, CSRF_HEADER, ConsoleSessions, CookiePolicy, console_sessions
from server.dialogue.reports import ReportStore
from server.http.app import build_http_app
from server.http.client_address import TrustedProxies
from server.storage.db import Database
from server.voice.registry import DeviceRegistry
from tests.http_auth import ADMIN_TOKEN, OPERATOR_TOKEN, api_policy
from tests.pg import DbBackend

ADMIN = Principal("token", Role.ADMIN)


@asynccontextmanager
async def instance(
    db: Database, tmp: Path, throttle: AuthThrottle | None = None, proxies: TrustedProxies | None = None
) -> AsyncIterator[TestClient]:
    """One service instance: its own app, policy, session store and engine, over a shared database."""
    settings = Settings(_env_file=None, data_dir=tmp / "data", results_dir=tmp / "results")
    policy = api_policy(throttle, proxies=proxies or TrustedProxies())
    services = ConsoleServices(settings, ReportStore(settings.results_dir), DeviceRegistry())

    def mount(app: web.Application) -> None:
        setup_console(app, services, policy, ConsoleSessions.from_settings(db, settings))

    app = build_http_app(settings, DeviceRegistry(), [mount], policy=policy)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def login(client: TestClient, token: str = ADMIN_TOKEN) -> tuple[str, str]:
    resp = await client.post("/console/login", json={"token": token})
    assert resp.status == 200, await resp.text()
    return resp.cookies[COOKIE_NAME].value, str((await resp.json())["csrf"])


def cookie(sid: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={sid}"}


async def whoami(client: TestClient, sid: str) -> int:
    resp = await client.get("/api/console/whoami", headers=cookie(sid))
    return resp.status


async def test_a_session_from_one_instance_works_on_another_and_after_a_restart(
    db_backend: DbBackend, tmp_path: Path
) -> None:
    path = tmp_path / "shared.sqlite3"
    async with instance(db_backend.open(path), tmp_path / "a") as a:
        sid, csrf = await login(a, OPERATOR_TOKEN)
    # "restarted": a new engine, app and store on the same database
    async with instance(db_backend.open(path), tmp_path / "b") as b:
        resp = await b.get("/api/console/whoami", headers=cookie(sid))
        assert resp.status == 200
        me = await resp.json()
        assert (me["role"], me["via"], me["csrf"]) == ("operator", "session", csrf)
        # the CSRF token still guards writes: without it logout is refused, with it the session ends
        assert (await b.post("/console/logout", headers=cookie(sid))).status == 403
        assert await whoami(b, sid) == 200
        out = await b.post("/console/logout", headers={**cookie(sid), CSRF_HEADER: csrf})
        assert out.status == 200
        assert await whoami(b, sid) == 401
    async with instance(db_backend.open(path), tmp_path / "c") as c:
        assert await whoami(c, sid) == 401  # logged out on one instance: on every instance


async def test_the_database_holds_a_hash_of_the_session_id_never_the_cookie(
    db_backend: DbBackend, tmp_path: Path
) -> None:
    db = db_backend.open(tmp_path / "rows.sqlite3")
    async with instance(db, tmp_path) as client:
        sid, csrf = await login(client)
        sid2, _ = await login(client, OPERATOR_TOKEN)
    with db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(console_sessions))]
    assert len(rows) == 2
    stored = repr(rows)
    for secret in (sid, sid2, ADMIN_TOKEN, OPERATOR_TOKEN):
        assert secret not in stored
    mine = next(r for r in rows if r["csrf"] == csrf)
    assert mine["sid_hash"] == hashlib.sha256(sid.encode()).hexdigest()
    assert (mine["role"], mine["principal"]) == ("admin", "token")


async def test_sessions_expire_and_expired_rows_are_purged(db_backend: DbBackend, tmp_path: Path) -> None:
    db = db_backend.open(tmp_path / "exp.sqlite3")
    now = [1_800_000_000.0]
    store = ConsoleSessions(db, CookiePolicy(max_age_s=3600), clock=lambda: now[0])
    old, session = store.create(ADMIN)
    assert session.principal.via is Via.SESSION and store.get(old) == session
    now[0] += 3599
    assert store.get(old) is not None
    young, _ = store.create(ADMIN)
    now[0] += 2  # `old` is past its hour, `young` is not
    assert store.get(old) is None and store.get(young) is not None
    now[0] += 7200
    store.create(ADMIN)  # a login purges what has expired, also sessions nobody asks for again
    with db.engine.connect() as conn:
        assert len(conn.execute(select(console_sessions)).all()) == 1
    # another store on the same database reads expiry the same way (wall clock, stored as UTC)
    other = ConsoleSessions(db_backend.open(tmp_path / "exp.sqlite3"), clock=lambda: now[0] + 3601)
    assert store.get(young) is None and other.get(young) is None


def test_the_oldest_sessions_go_beyond_the_cap_and_unknown_ids_are_no_session(
    db_backend: DbBackend, tmp_path: Path
) -> None:
    now = [1_800_000_000.0]
    store = ConsoleSessions(db_backend.open(tmp_path / "cap.sqlite3"), max_sessions=3, clock=lambda: now[0])
    sids = []
    for _ in range(5):
        now[0] += 1
        sids.append(store.create(ADMIN)[0])
    assert [store.get(s) is not None for s in sids] == [False, False, True, True, True]
    assert store.get("") is None and store.get("forged") is None and store.get(sids[-1][:-1]) is None
    store.drop(sids[-1])
    assert store.get(sids[-1]) is None and store.get(sids[-2]) is not None


async def test_console_login_guesses_behind_a_trusted_proxy_lock_out_only_the_guesser(tmp_path: Path) -> None:
    db = Database.sqlite(tmp_path / "proxy.sqlite3")
    db.create_all()
    throttle = AuthThrottle(max_failures=3, lockout_s=60)
    proxies = TrustedProxies.parse("127.0.0.1")
    async with instance(db, tmp_path, throttle, proxies) as client:
        guesser = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}  # forged left part, proxy-appended right
        statuses = []
        for i in range(4):
            resp = await client.post("/console/login", json={"token": f"guess-{i}"}, headers=guesser)
            statuses.append(resp.status)
        assert statuses == [401, 401, 401, 429]
        right = await client.post("/console/login", json={"token": ADMIN_TOKEN}, headers=guesser)
        assert right.status == 429
        colleague = {"X-Forwarded-For": "198.51.100.1"}  # the address the guesser wrote is not locked out
        ok = await client.post("/console/login", json={"token": ADMIN_TOKEN}, headers=colleague)
        assert ok.status == 200
    assert throttle.retry_after("203.0.113.9") > 0 and throttle.retry_after("127.0.0.1") == 0
    db.dispose()
