"""The HTTP trust boundary (issues 10 and 17) with a real aiohttp client sending a browser's headers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from server.auth.throttle import AuthThrottle
from server.cases.routes import setup_case_routes
from server.cases.service import CaseService
from server.cases.store import StaticApprovers
from server.config import Settings
from server.http.app import build_http_app
from server.storage.db import Database
from server.voice.registry import DeviceRegistry
from tests.alerts.helpers import serve
from tests.cases.helpers import case_at_gate
from tests.http_auth import ADMIN, OPERATOR, api_policy

EVIL = "http://evil.example"
# what Chromium sends for a cross-site fetch(..., {method: "POST"}) from a page on evil.example
BROWSER = {
    "Origin": EVIL,
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "cors",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Accept": "*/*",
}


@asynccontextmanager
async def server(
    tmp_path: Path, throttle: AuthThrottle | None = None
) -> AsyncIterator[tuple[str, CaseService]]:
    db = Database.sqlite(tmp_path / "guard.sqlite3")
    db.create_all()
    cases = CaseService(db, approvers=StaticApprovers({"owner:alice": "high"}))
    settings = Settings(_env_file=None, data_dir=tmp_path, host="127.0.0.1")

    def owners(app: web.Application) -> None:  # a stand-in state-changing API route next to the real ones
        async def list_owners(request: web.Request) -> web.Response:
            return web.json_response({"owners": []})

        app.router.add_get("/api/owners", list_owners)

    def webhook(app: web.Application) -> None:  # a webhook that refuses wrong credentials with 401
        async def hook(request: web.Request) -> web.Response:
            ok = request.match_info["token"] == "right-path-token"
            return web.json_response({}, status=200 if ok else 401)

        app.router.add_post("/webhooks/test/{token}", hook)

    app = build_http_app(
        settings,
        DeviceRegistry(),
        [lambda a: setup_case_routes(a, cases), owners, webhook],
        policy=api_policy(throttle=throttle),
    )
    try:
        async with serve(app) as url:
            yield url, cases
    finally:
        db.dispose()


async def test_api_preflight_gets_no_cors_and_cross_origin_post_is_refused(tmp_path: Path) -> None:
    async with server(tmp_path) as (url, cases), aiohttp.ClientSession() as http:
        case = case_at_gate(cases)
        transitions = f"{url}/api/cases/{case.id}/transitions"
        preflight = {
            **BROWSER,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, if-match",
        }
        async with http.options(transitions, headers=preflight) as r:
            assert not [h for h in r.headers if h.lower().startswith("access-control-")]
        deny = {"event": "deny", "payload": {"reason": "x"}}
        # refused even with the right token (a page that learned it) and from loopback
        for extra in ({}, ADMIN):
            async with http.post(
                transitions, json=deny, headers={**BROWSER, **extra, "If-Match": str(case.version)}
            ) as r:
                assert r.status == 403
                assert not [h for h in r.headers if h.lower().startswith("access-control-")]
        assert cases.get_case(case.id).status == "WAIT_GATE"
        # Origin "null" (sandboxed iframe, file://) is foreign too
        async with http.post(
            transitions, json=deny, headers={**ADMIN, "Origin": "null", "If-Match": "1"}
        ) as r:
            assert r.status == 403
        # the same request without a browser Origin (curl, a script with the token) works
        async with http.post(transitions, json=deny, headers={**ADMIN, "If-Match": str(case.version)}) as r:
            assert r.status == 200, await r.text()
        # and a same-origin browser request (the server's own page) is not refused for its Origin
        own = url.replace("http://", "")
        async with http.get(f"{url}/api/cases", headers={**ADMIN, "Origin": f"http://{own}"}) as r:
            assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers


async def test_cross_origin_post_to_a_webhook_is_refused(tmp_path: Path) -> None:
    async with server(tmp_path) as (url, _), aiohttp.ClientSession() as http:
        async with http.post(f"{url}/webhooks/test/right-path-token", json={}, headers=BROWSER) as r:
            assert r.status == 403
        async with http.post(f"{url}/webhooks/test/right-path-token", json={}) as r:
            assert r.status == 200


async def test_ota_preflight_and_post_work_for_the_xiaozhi_test_page(tmp_path: Path) -> None:
    page = {**BROWSER, "Origin": "http://192.168.1.20:8080"}
    async with server(tmp_path) as (url, _), aiohttp.ClientSession() as http:
        for path in ("/xiaozhi/ota/", "/xiaozhi/ota", "/xiaozhi/ota/activate"):
            async with http.options(
                f"{url}{path}",
                headers={
                    **page,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "client-id, content-type, device-id",
                },
            ) as r:
                assert r.status == 204
                assert r.headers["Access-Control-Allow-Origin"] == "*"
                assert "Access-Control-Allow-Credentials" not in r.headers
                allowed = {h.strip() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
                assert {"client-id", "content-type", "device-id"} <= allowed
                assert "POST" in r.headers["Access-Control-Allow-Methods"]
        headers = {**page, "Device-Id": "aa:bb:cc:dd:ee:ff", "Client-Id": "0b6a3c4e"}
        async with http.post(
            f"{url}/xiaozhi/ota/", json={"application": {"version": "2.4.2"}}, headers=headers
        ) as r:
            assert r.status == 200 and "websocket" in await r.json()
            assert r.headers["Access-Control-Allow-Origin"] == "*"
        async with http.get(f"{url}/healthz", headers=page) as r:  # nothing else carries CORS headers
            assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8003", "10.99.99.99"])
async def test_api_refuses_a_foreign_host_header(tmp_path: Path, host: str) -> None:
    async with server(tmp_path) as (url, _), aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/owners", headers={**ADMIN, "Host": host}) as r:
            assert r.status == 403
        for ok in ("localhost", "127.0.0.1", url.removeprefix("http://")):
            async with http.get(f"{url}/api/owners", headers={**ADMIN, "Host": ok}) as r:
                assert r.status == 200, ok
        # devices reach OTA by any name or address
        async with http.get(f"{url}/xiaozhi/ota/", headers={"Host": host}) as r:
            assert r.status == 200


async def test_api_needs_a_token_and_roles_limit_it(tmp_path: Path) -> None:
    async with server(tmp_path) as (url, cases), aiohttp.ClientSession() as http:
        case = case_at_gate(cases)
        tr = f"{url}/api/cases/{case.id}/transitions"
        async with http.get(f"{url}/api/cases") as r:
            assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        async with http.get(f"{url}/api/cases", headers={"Authorization": "Bearer nope"}) as r:
            assert r.status == 401
        # an operator may decline; the actor is the principal, whatever the body claims
        deny = {"event": "deny", "payload": {"reason": "not now"}, "actor": "owner:alice"}
        async with http.post(
            tr, json=deny, headers={**OPERATOR, "If-Match": str(case.version), "X-Actor": "alice"}
        ) as r:
            assert r.status == 200
        last = cases.timeline(case.id)[-1]
        assert last.event == "deny" and last.actor == "operator:token"


async def test_failed_auth_is_throttled_per_source_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="server.auth.throttle")
    throttle = AuthThrottle(max_failures=5, window_s=60, lockout_s=60, log_every_s=60)
    async with server(tmp_path, throttle) as (url, _), aiohttp.ClientSession() as http:
        statuses = []
        for i in range(20):
            async with http.get(f"{url}/api/owners", headers={"Authorization": f"Bearer guess-{i}"}) as r:
                statuses.append(r.status)
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
        # locked out: even the right token waits, so guessing cannot continue at speed
        async with http.get(f"{url}/api/owners", headers=ADMIN) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        lines = [r for r in caplog.records if "failed authentication" in r.getMessage()]
        assert len(lines) == 1 and "127.0.0.1" in lines[0].getMessage()
        # the webhook path token counts against the same source
        async with http.post(f"{url}/webhooks/test/right-path-token", json={}) as r:
            assert r.status == 429
    # another source is not affected
    assert throttle.retry_after("10.0.0.7") == 0


async def test_webhook_path_token_guesses_are_throttled(tmp_path: Path) -> None:
    throttle = AuthThrottle(max_failures=3, window_s=60, lockout_s=60)
    async with server(tmp_path, throttle) as (url, _), aiohttp.ClientSession() as http:
        statuses = []
        for i in range(6):
            async with http.post(f"{url}/webhooks/test/guess-{i}", json={}) as r:
                statuses.append(r.status)
        assert statuses == [401, 401, 401, 429, 429, 429]


def test_throttle_window_and_log_summary() -> None:
    now = [0.0]
    t = AuthThrottle(max_failures=3, window_s=10, lockout_s=30, log_every_s=60, clock=lambda: now[0])
    for _ in range(2):
        t.failed("a", "x")
    now[0] = 11  # the first two fell out of the window
    t.failed("a", "x")
    assert t.retry_after("a") == 0
    t.failed("a", "x")
    t.failed("a", "x")
    assert t.retry_after("a") == pytest.approx(30)
    now[0] = 42
    assert t.retry_after("a") == 0


def test_admin_token_is_generated_once_0600_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.auth.tokens import admin_token

    first = admin_token("", tmp_path)
    assert len(first) >= 32 and first in capsys.readouterr().err  # shown once, at generation
    assert (tmp_path / "admin.token").stat().st_mode & 0o777 == 0o600
    assert admin_token("", tmp_path) == first and first not in capsys.readouterr().err  # never again
    assert admin_token("configured-token", tmp_path) == "configured-token"
    assert not list(tmp_path.glob(".*.tmp"))
