"""The client's address behind a trusted reverse proxy: throttling and logs per real client, never per forged header."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from websockets.asyncio.client import connect

from server.auth.throttle import AuthThrottle
from server.config import Settings
from server.http.app import build_http_app, policy_from_settings
from server.http.asgi_guard import AsgiGuard
from server.http.client_address import TrustedProxies, parse_address
from server.voice.registry import DeviceRegistry
from tests.alerts.helpers import serve
from tests.device.helpers import running_server
from tests.http_auth import ADMIN, api_policy

LOCAL = "127.0.0.1"  # every test request really comes from here (the proxy, when one is trusted)
REAL = "203.0.113.5"
OTHER = "198.51.100.7"
XFF = TrustedProxies.parse("127.0.0.1, 10.0.0.0/8")
FWD = TrustedProxies.parse("127.0.0.1, 10.0.0.0/8", "forwarded")


# ------------------------------------------------------------------------------------------ the walk (pure)


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert TrustedProxies().client(OTHER, [REAL]) == OTHER  # the default trusts no one
    assert XFF.client(OTHER, [REAL]) == OTHER
    assert FWD.client(OTHER, [f"for={REAL}"]) == OTHER
    assert XFF.client(None, [REAL]) == "?"


def test_a_trusted_proxy_names_the_first_untrusted_hop_from_the_right() -> None:
    assert XFF.client(LOCAL, [REAL]) == REAL
    # the client forged entries on the left; the proxy appended what it saw
    assert XFF.client(LOCAL, [f"1.1.1.1, 10.0.0.9, {REAL}"]) == REAL
    # chained proxies: edge proxy 10.1.2.3 → local proxy → us
    assert XFF.client(LOCAL, [f"{REAL}, 10.1.2.3"]) == REAL
    assert XFF.client("10.1.2.3", [f"{OTHER}, {REAL}, 10.9.9.9"]) == REAL
    # several header lines are one list, in order
    assert XFF.client(LOCAL, [f"{OTHER}", f"{REAL}, 10.1.2.3"]) == REAL
    # every hop is one of ours: the furthest is the client
    assert XFF.client(LOCAL, ["10.0.0.4, 127.0.0.1"]) == "10.0.0.4"
    # nothing forwarded: the proxy itself (a health check on the proxy host)
    assert XFF.client(LOCAL, []) == LOCAL and XFF.client(LOCAL, [" , "]) == LOCAL


def test_addresses_come_out_canonical() -> None:
    assert XFF.client(LOCAL, ["2001:DB8:0::1"]) == "2001:db8::1"
    assert XFF.client(LOCAL, ["[2001:db8::1]:4711"]) == "2001:db8::1"
    assert XFF.client(LOCAL, [f"{REAL}:5555"]) == REAL
    assert XFF.client("::ffff:127.0.0.1", [f"::ffff:{REAL}"]) == REAL  # IPv4-mapped is IPv4 both ways
    assert parse_address("fe80::1%eth0") == parse_address("fe80::1")


def test_rfc7239_forwarded() -> None:
    assert FWD.client(LOCAL, [f'for={OTHER};proto=https, for="{REAL}:443";by=10.1.2.3']) == REAL
    assert FWD.client(LOCAL, ['For="[2001:db8:cafe::17]:4711"']) == "2001:db8:cafe::17"
    assert FWD.client(LOCAL, [f'for={REAL}, for=10.1.2.3;host="a,b;c"']) == REAL  # separators inside quotes
    # the client's garbage left of the hop our proxy added is never read
    assert FWD.client(LOCAL, [f'for="x, for=y;;=, for={REAL}']) == LOCAL  # ...unless it breaks the quoting
    assert FWD.client(LOCAL, [f"for=garbage;=;;, for={REAL}"]) == REAL
    # only the configured header is read: a Forwarded the proxy passed through from the client means nothing
    assert XFF.client(LOCAL, []) == LOCAL


@pytest.mark.parametrize(
    "header",
    [
        "not-an-ip",
        "unknown",
        "_hidden",
        "999.1.1.1",
        "[::1",
        "[::1]x",
        "1.2.3.4:port",
        "1.2.3.4:99999999",
        '"',
        "\x00\xff\u202e",
        "1.2.3.4, 10.0.0.1, , zzz",
        ",".join(["10.0.0.1"] * 200),  # a chain no deployment has
        "a" * 9000,
    ],
)
def test_garbage_means_the_peer_and_never_an_exception(header: str) -> None:
    assert XFF.client(LOCAL, [header]) == LOCAL
    assert FWD.client(LOCAL, [header]) == LOCAL
    assert FWD.client(LOCAL, [f"for={header}"]) == LOCAL
    assert FWD.client(LOCAL, [f'for="{header}"']) == LOCAL


def test_a_bad_setting_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"XOPS_TRUSTED_PROXIES: 'proxy\.local'"):
        TrustedProxies.parse("127.0.0.1, proxy.local")
    with pytest.raises(ValueError, match="XOPS_TRUSTED_PROXY_HEADER"):
        TrustedProxies.parse("127.0.0.1", "x-real-ip")
    s = Settings(_env_file=None, trusted_proxies="127.0.0.1,::1, 10.0.0.0/8")
    assert policy_from_settings(s).proxies.trusts(parse_address("10.20.30.40"))  # type: ignore[arg-type]
    assert not Settings(_env_file=None).trusted_proxies  # nobody trusted by default


# -------------------------------------------------------------------------- the HTTP service, real sockets


@asynccontextmanager
async def http_service(tmp_path: Any, proxies: TrustedProxies) -> AsyncIterator[tuple[str, AuthThrottle]]:
    throttle = AuthThrottle(max_failures=3, window_s=60, lockout_s=60, log_every_s=60)
    settings = Settings(_env_file=None, data_dir=tmp_path, host=LOCAL)

    def routes(app: web.Application) -> None:
        async def owners(_request: web.Request) -> web.Response:
            return web.json_response({"owners": []})

        async def hook(request: web.Request) -> web.Response:
            return web.json_response({}, status=200 if request.match_info["token"] == "right" else 401)

        app.router.add_get("/api/owners", owners)
        app.router.add_post("/webhooks/test/{token}", hook)

    policy = api_policy(throttle=throttle, proxies=proxies)
    async with serve(build_http_app(settings, DeviceRegistry(), [routes], policy=policy)) as url:
        yield url, throttle


async def _fail(http: aiohttp.ClientSession, url: str, forwarded: dict[str, str], times: int) -> list[int]:
    statuses = []
    for i in range(times):
        headers = {"Authorization": f"Bearer guess-{i}", **forwarded}
        async with http.get(f"{url}/api/owners", headers=headers) as r:
            statuses.append(r.status)
    return statuses


async def test_an_untrusted_peer_forging_x_forwarded_for_is_throttled_by_its_real_address(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="server.auth.throttle")
    proxies = TrustedProxies.parse("10.0.0.1")
    async with http_service(tmp_path, proxies) as (url, throttle), aiohttp.ClientSession() as http:
        # a new forged address on every guess: still one source, locked out after 3
        statuses = []
        for i in range(6):
            forged = {"X-Forwarded-For": f"198.51.100.{i}", "Forwarded": f"for=198.51.100.{i}"}
            statuses += await _fail(http, url, forged, 1)
        assert statuses == [401] * 3 + [429] * 3
        async with http.get(f"{url}/api/owners", headers={**ADMIN, "X-Forwarded-For": OTHER}) as r:
            assert r.status == 429
    assert throttle.retry_after(LOCAL) > 0 and throttle.retry_after("198.51.100.0") == 0
    lines = [r.getMessage() for r in caplog.records if "failed authentication" in r.getMessage()]
    assert lines and all(LOCAL in line for line in lines)


async def test_behind_a_trusted_proxy_each_real_client_is_throttled_on_its_own(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="server.auth.throttle")
    async with http_service(tmp_path, XFF) as (url, throttle), aiohttp.ClientSession() as http:
        # the guesser forges an address left of the one the proxy appended: it is still REAL that is locked out
        guesser = {"X-Forwarded-For": f"{OTHER}, {REAL}"}
        assert await _fail(http, url, guesser, 5) == [401] * 3 + [429] * 2
        async with http.get(f"{url}/api/owners", headers={**ADMIN, "X-Forwarded-For": REAL}) as r:
            assert r.status == 429
        async with http.post(f"{url}/webhooks/test/right", json={}, headers={"X-Forwarded-For": REAL}) as r:
            assert r.status == 429  # webhooks count against the same client
        # everyone else behind the same proxy goes on, directly or through a second proxy
        for forwarded in (OTHER, f"{OTHER}, 10.1.2.3", "192.0.2.44"):
            async with http.get(f"{url}/api/owners", headers={**ADMIN, "X-Forwarded-For": forwarded}) as r:
                assert r.status == 200, forwarded
        # the proxy host itself (nothing forwarded) is its own source, not locked out either
        async with http.get(f"{url}/api/owners", headers=ADMIN) as r:
            assert r.status == 200
        # garbage from the proxy: attributed to the proxy, answered normally
        async with http.get(f"{url}/api/owners", headers={**ADMIN, "X-Forwarded-For": "%%, [::1, é"}) as r:
            assert r.status == 200
    assert throttle.retry_after(REAL) > 0 and throttle.retry_after(OTHER) == 0
    assert throttle.retry_after(LOCAL) == 0
    lines = [r.getMessage() for r in caplog.records if "failed authentication" in r.getMessage()]
    assert lines and all(REAL in line and LOCAL not in line for line in lines)


async def test_ota_logs_show_the_client_behind_the_proxy(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="server.http.ota")
    async with http_service(tmp_path, XFF) as (url, _), aiohttp.ClientSession() as http:
        r = await http.post(f"{url}/xiaozhi/ota/", data=b"{", headers={"X-Forwarded-For": REAL})
        assert r.status == 200
        r.release()
    lines = [r.getMessage() for r in caplog.records if "OTA check from" in r.getMessage()]
    assert lines and all(REAL in line for line in lines)


# ------------------------------------------------------------------------------------------ MCP (ASGI)


async def test_mcp_over_http_throttles_the_client_behind_the_proxy() -> None:
    seen: list[Any] = []
    statuses: list[int] = []

    async def mcp_app(scope: Any, _receive: Any, _send: Any) -> None:
        seen.append(scope["client"])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def call(forwarded: str, token: str) -> None:
        headers = [(b"host", b"127.0.0.1"), (b"x-forwarded-for", forwarded.encode())]
        headers.append((b"authorization", f"Bearer {token}".encode()))
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/mcp",
            "headers": headers,
            "client": (LOCAL, 5000),
        }
        await guard(scope, receive, send)

    throttle = AuthThrottle(max_failures=2, window_s=60, lockout_s=60)
    guard = AsgiGuard(mcp_app, api_policy(throttle=throttle, proxies=XFF))
    for _ in range(3):
        await call(f"{OTHER}, {REAL}", "guess")
    assert statuses == [401, 401, 429]
    await call(OTHER, ADMIN["Authorization"][7:])  # another client behind the proxy, right token
    assert len(statuses) == 3 and [c[0] for c in seen] == [OTHER]
    assert throttle.retry_after(REAL) > 0 and throttle.retry_after(LOCAL) == 0


def test_uvicorn_does_not_believe_forwarded_headers_on_its_own() -> None:
    from server.http.limits import uvicorn_limits

    assert uvicorn_limits(Settings(_env_file=None))["proxy_headers"] is False


# ------------------------------------------------------------------------------------------ device socket


async def test_a_device_behind_a_trusted_proxy_is_shown_with_its_own_address() -> None:
    hello = {"type": "hello", "version": 1, "transport": "websocket", "audio_params": {"format": "opus"}}
    for trusted, expected in (("127.0.0.1", REAL), ("", LOCAL)):
        async with running_server(trusted_proxies=trusted) as h:
            headers = {"Device-Id": "aa:bb:cc:00:00:77", "X-Forwarded-For": f"{OTHER}, {REAL}"}
            async with connect(h.url, additional_headers=headers) as ws:
                await ws.send(json.dumps(hello))
                await ws.recv()
                handler = h.handler_for("aa:bb:cc:00:00:77")
                await handler.wait_event("open")
                assert handler.info.remote.split(":")[0] == expected
