"""Console login, session, CSRF, throttling and secrets, over the real HTTP app (each attack its own test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.console.sessions import COOKIE_NAME
from tests.console.rig import DAY, Rig, build_rig
from tests.fakes.cos_server import FakeCosServer
from tests.http_auth import ADMIN_TOKEN, OPERATOR_TOKEN

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLEKEY"
CHANNEL_KEY = "0c2f5a1e-very-secret-webhook-key"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Rig]]:
    with FakeCosServer(region="ap-guangzhou") as cos:  # the bucket probe reads through the real COS SDK
        cos.add_user(SECRET_ID, SECRET_KEY)
        cos.add_bucket("logs-1250000000", [SECRET_ID])
        r = build_rig(tmp_path, cos_endpoint=f"http://127.0.0.1:{cos.port}")
        client = TestClient(TestServer(r.app, host="127.0.0.1"))
        await client.start_server()
        yield client, r
        await client.close()
        await r.notify.stop()


async def login(client: TestClient, token: str = ADMIN_TOKEN) -> str:
    resp = await client.post("/console/login", json={"token": token})
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["csrf"])


async def test_login_sets_a_strict_httponly_cookie_and_a_wrong_token_gets_none(rig):
    client, _ = rig
    bad = await client.post("/console/login", json={"token": "guess"})
    assert bad.status == 401 and COOKIE_NAME not in bad.cookies
    ok = await client.post("/console/login", json={"token": ADMIN_TOKEN})
    assert ok.status == 200
    header = ok.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Secure" not in header
    assert ADMIN_TOKEN not in header and ADMIN_TOKEN not in await ok.text()
    me = await client.get("/api/console/whoami")
    assert me.status == 200 and (await me.json())["via"] == "session"


async def test_secure_cookie_when_configured(tmp_path: Path):
    r = build_rig(tmp_path, console_secure_cookie=True)
    async with TestClient(TestServer(r.app, host="127.0.0.1")) as client:
        ok = await client.post("/console/login", json={"token": ADMIN_TOKEN})
        assert "Secure" in ok.headers["Set-Cookie"]
    await r.notify.stop()


async def test_without_a_session_pages_redirect_and_api_refuses(rig):
    client, r = rig
    page = await client.get("/console/", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == "/console/login"
    case = r.cases.create_case(owner="default", title="x")
    assert (await client.get("/api/console/whoami")).status == 401
    assert (await client.get(f"/api/console/cases/{case.id}")).status == 401
    assert (await client.post(f"/api/cases/{case.id}/acknowledge")).status == 401
    # a forged cookie is no session
    client.session.cookie_jar.update_cookies({COOKIE_NAME: "forged"})
    assert (await client.post(f"/api/cases/{case.id}/acknowledge")).status == 401
    assert r.notify.attention.get(case.id).acked_by is None


async def test_a_state_changing_request_without_or_with_a_wrong_csrf_token_is_refused(rig):
    client, r = rig
    csrf = await login(client)
    case = r.cases.create_case(owner="default", title="order-api 5xx", severity="critical")
    url = f"/api/cases/{case.id}/acknowledge"
    assert (await client.post(url)).status == 403
    wrong = ("y" if csrf[0] == "x" else "x") + csrf[1:]  # always differs from the real token
    assert (await client.post(url, headers={"X-CSRF-Token": wrong})).status == 403
    assert (await client.post(url, headers={"X-CSRF-Token": ""})).status == 403
    assert (await client.post("/console/logout")).status == 403
    assert r.notify.attention.get(case.id).acked_by is None
    ok = await client.post(url, headers={"X-CSRF-Token": csrf})
    assert ok.status == 200
    assert r.notify.attention.get(case.id).acked_by == "admin:token"
    # a cross-site page cannot send it either: a foreign Origin is refused before the session is looked at
    cross = await client.post(url, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert cross.status == 403


async def test_logout_ends_the_session(rig):
    client, _ = rig
    csrf = await login(client)
    out = await client.post("/console/logout", headers={"X-CSRF-Token": csrf})
    assert out.status == 200
    assert (await client.get("/api/console/whoami")).status == 401


async def test_login_brute_force_is_locked_out_even_for_the_right_token(rig):
    client, _ = rig
    for _ in range(5):
        assert (await client.post("/console/login", json={"token": "guess"})).status == 401
    locked = await client.post("/console/login", json={"token": ADMIN_TOKEN})
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
    assert COOKIE_NAME not in locked.cookies


async def test_an_operator_session_may_decide_but_not_configure(rig):
    client, r = rig
    csrf = await login(client, OPERATOR_TOKEN)
    h = {"X-CSRF-Token": csrf}
    assert (await client.post("/api/owners", json={"name": "eve"}, headers=h)).status == 403
    case = r.cases.create_case(owner="default", title="x")
    assert (await client.post(f"/api/cases/{case.id}/acknowledge", headers=h)).status == 200


async def test_no_page_or_api_response_contains_a_secret(rig):
    client, r = rig
    csrf = await login(client)
    h = {"X-CSRF-Token": csrf}
    owner = await (await client.post("/api/owners", json={"name": "alice"}, headers=h)).json()
    bound = await client.put(
        f"/api/owners/{owner['id']}/credentials",
        json={
            "secret_id": SECRET_ID,
            "secret_key": SECRET_KEY,
            "region": "ap-guangzhou",
            "bucket": "logs-1250000000",
        },
        headers=h,
    )
    assert bound.status == 200
    url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={CHANNEL_KEY}"
    assert (
        await client.put("/api/channels/ops", json={"kind": "wecom", "url": url}, headers=h)
    ).status == 201
    case = r.cases.create_case(owner="alice", title="order-api 5xx")
    answers = [await bound.text()]
    for path in [
        "/console/",
        "/console/login",
        "/api/console/whoami",
        "/api/console/days",
        f"/api/console/report?owner=default&day={DAY}",
        f"/api/console/cases/{case.id}",
        "/api/console/devices",
        "/api/console/system",
        "/api/owners",
        f"/api/owners/{owner['id']}/credentials",
        "/api/cases",
        "/api/channels",
        "/api/silences",
        "/healthz",
        "/api/console/schedules",
        f"/api/console/owners/{owner['id']}/probe?day={DAY}",
    ]:
        resp = await client.get(path)
        assert resp.status == 200, path
        if "probe" in path:
            assert (await resp.json())["reachable"] is True
        answers.append(await resp.text())
    for path in ["/console/static/js/app.js", "/console/static/js/owners.js"]:
        answers.append(await (await client.get(path)).text())
    everything = "\n".join(answers)
    for secret in (SECRET_ID, SECRET_KEY, CHANNEL_KEY, ADMIN_TOKEN, OPERATOR_TOKEN):
        assert secret not in everything
    assert SECRET_KEY[-6:] not in everything and SECRET_KEY[:6] not in everything  # not even its ends
    assert "ap-guangzhou" in everything  # the owner page did show the binding (masked)


async def test_pages_carry_a_strict_content_security_policy(rig):
    client, _ = rig
    await login(client)
    for path in ("/console/", "/console/login", "/api/console/whoami"):
        resp = await client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert resp.headers["X-Frame-Options"] == "DENY"
    # the HTML is static: no data (and so no unescaped data) is interpolated into it
    shell = await (await client.get("/console/")).text()
    assert "<script>" not in shell and "order-api" not in shell
