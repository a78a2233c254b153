"""OTA response building (pure) and the HTTP endpoints on a real socket."""

import contextlib
import json
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from firmware_bridge.ota import (
    OtaConfig,
    build_ota_response,
    is_numeric_version,
    parse_ota_request,
    timezone_offset_minutes,
)
from server.http.app import build_http_app
from server.voice.registry import DeviceRegistry
from tests.device.helpers import make_settings
from tests.http_auth import ADMIN, api_policy

NOW = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
FIRMWARE_BODY = {
    "version": 2,
    "language": "zh-CN",
    "flash_size": 16777216,
    "minimum_free_heap_size": "123456",
    "mac_address": "AA:BB:CC:DD:EE:FF",
    "uuid": "0b6a3c4e-1111-4a3b-9e1d-5f5f5f5f5f5f",
    "chip_model_name": "esp32s3",
    "application": {"name": "xiaozhi", "version": "2.3.1", "elf_sha256": "00" * 32},
    "board": {"type": "bread-compact-wifi", "ssid": "lab", "rssi": -50},
}
HEADERS = {"Device-Id": "aa:bb:cc:dd:ee:ff", "Client-Id": "0b6a3c4e", "User-Agent": "bread/2.3.1"}


def test_numeric_versions() -> None:
    assert is_numeric_version("2.4.2") and is_numeric_version("10")
    assert (
        not is_numeric_version("v2.4") and not is_numeric_version("2.4-beta") and not is_numeric_version(None)
    )


def test_response_echoes_numeric_version_and_has_no_mqtt() -> None:
    req = parse_ota_request(HEADERS, json.dumps(FIRMWARE_BODY))
    cfg = OtaConfig(ws_url="ws://10.0.0.5:8000/xiaozhi/v1/", token="t", firmware_version="2.4.2")
    reply = build_ota_response(req, cfg, NOW)
    assert reply == {
        "server_time": {"timestamp": int(NOW.timestamp() * 1000), "timezone_offset": 480},
        "firmware": {"version": "2.3.1", "url": ""},
        "websocket": {"url": "ws://10.0.0.5:8000/xiaozhi/v1/", "token": "t", "version": 1},
    }
    assert req.device_id == "aa:bb:cc:dd:ee:ff" and req.body_error is None


def test_non_numeric_or_missing_version_falls_back_and_bad_body_is_tolerated() -> None:
    cfg = OtaConfig(ws_url="ws://h:1/xiaozhi/v1/", firmware_version="2.4.2")
    odd = dict(FIRMWARE_BODY, application={"version": "v2.4-dev"})
    assert (
        build_ota_response(parse_ota_request({}, json.dumps(odd)), cfg, NOW)["firmware"]["version"] == "2.4.2"
    )
    broken = parse_ota_request({"device-id": "AA:01"}, b"{broken")
    assert broken.body_error and broken.device_id == "aa:01"
    assert build_ota_response(broken, cfg, NOW)["firmware"] == {"version": "2.4.2", "url": ""}
    assert parse_ota_request({}, b"[1]").body_error == "body is not a JSON object"
    assert parse_ota_request({}, None).body == {}


def test_timezone_offsets() -> None:
    assert timezone_offset_minutes("Asia/Shanghai", NOW) == 480
    assert timezone_offset_minutes("America/New_York", NOW) == -240  # summer time
    assert timezone_offset_minutes("Not/AZone", NOW) == 0


@contextlib.asynccontextmanager
async def http_app(**settings):
    app = build_http_app(make_settings(**settings), DeviceRegistry(), policy=api_policy())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            yield session
    finally:
        await runner.cleanup()


async def test_ota_endpoint_with_and_without_slash() -> None:
    async with http_app(ws_port=8000) as http:
        for path in ("/xiaozhi/ota/", "/xiaozhi/ota"):
            resp = await http.post(path, json=FIRMWARE_BODY, headers=HEADERS)
            assert resp.status == 200
            body = await resp.json()
            assert "mqtt" not in body and "activation" not in body
            assert body["websocket"] == {"url": "ws://127.0.0.1:8000/xiaozhi/v1/", "token": "", "version": 1}
            assert body["firmware"] == {"version": "2.3.1", "url": ""}
            assert body["server_time"]["timezone_offset"] == 480
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
        resp = await http.get("/xiaozhi/ota")  # xiaozhi-sdk: GET, no slash, no body
        assert resp.status == 200 and (await resp.json())["firmware"]["version"] == "2.4.2"


async def test_ota_public_host_token_mode_and_malformed_body() -> None:
    async with http_app(
        public_host="robots.example.com", ws_port=9000, auth_mode="token", device_tokens="tk1,tk2"
    ) as http:
        resp = await http.post(
            "/xiaozhi/ota/", data=b"{this is not json", headers={"Content-Type": "application/json"}
        )
        assert resp.status == 200
        body = await resp.json()
        # configured tokens are never handed to an unauthenticated caller (per-device tokens: tests/http)
        assert body["websocket"] == {
            "url": "ws://robots.example.com:9000/xiaozhi/v1/",
            "token": "",
            "version": 1,
        }
        assert body["firmware"]["version"] == "2.4.2"


async def test_activate_with_and_without_slash() -> None:
    async with http_app() as http:
        for path in ("/xiaozhi/ota/activate", "/xiaozhi/ota/activate/"):
            resp = await http.post(path, json={"algorithm": "hmac-sha256", "challenge": "x", "hmac": "00"})
            assert resp.status == 200
        assert (await http.post("/xiaozhi/ota/activate", data=b"")).status == 200


async def test_cors_preflight_and_error_responses_carry_cors() -> None:
    async with http_app() as http:
        resp = await http.options(
            "/xiaozhi/ota/",
            headers={
                "Origin": "http://page.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "device-id, client-id, content-type",
            },
        )
        assert resp.status in (200, 204)
        allowed = {h.strip() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"client-id", "content-type", "device-id", "protocol-version"} <= allowed
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        # only the OTA endpoints carry CORS headers (issue 17)
        missing = await http.get("/no/such/page")
        assert missing.status == 404 and "Access-Control-Allow-Origin" not in missing.headers


async def test_healthz_metrics_and_extra_setup() -> None:
    def extra(app: web.Application) -> None:
        async def ping(request: web.Request) -> web.Response:
            return web.json_response({"pong": True})

        app.router.add_get("/api/ping", ping)

    app = build_http_app(make_settings(), DeviceRegistry(), [extra], policy=api_policy())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            assert await (await http.get("/healthz")).json() == {"status": "ok", "devices_online": 0}
            text = await (await http.get("/metrics")).text()
            assert "xops_device_frames_in_total" in text and "xops_device_sessions_active" in text
            assert (await http.get("/api/ping")).status == 401  # /api needs the token
            assert await (await http.get("/api/ping", headers=ADMIN)).json() == {"pong": True}
    finally:
        await runner.cleanup()
