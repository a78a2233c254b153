"""The console as the running service mounts it (server/app.py): login with the generated admin token, the
service's own TTS and device MCP, case transitions and owners behind the same guard."""

from __future__ import annotations

import aiohttp
import pytest

from firmware_bridge.virtual_device import VirtualDevice
from server.auth.tokens import admin_token

pytestmark = pytest.mark.slow


async def test_the_running_service_serves_the_console(start_app):
    app = await start_app(device_owners="aa:bb:cc:dd:ee:01=alice")
    token = admin_token("", app.settings.data_dir)  # generated at first run (XOPS_ADMIN_TOKEN unset)
    base = f"http://127.0.0.1:{app.http_port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # cookies for an IP
        page = await http.get(f"{base}/console/", allow_redirects=False)
        assert page.status == 302
        login = await http.post(f"{base}/console/login", json={"token": token})
        assert login.status == 200
        csrf = (await login.json())["csrf"]
        shell = await http.get(f"{base}/console/")
        assert shell.status == 200 and "chart.umd.min.js" in await shell.text()
        assert (await http.get(f"{base}/console/static/vendor/chart.umd.min.js")).status == 200
        system = await (await http.get(f"{base}/api/console/system")).json()
        assert system["fallbacks"]["tts"].startswith("espeak")  # the offline engine the tests configure
        case = app.cases.create_case(owner="default", title="order-api 5xx")
        park = await http.post(
            f"{base}/api/cases/{case.id}/transitions",
            json={"event": "park", "payload": {"reason": "known"}},
            headers={"X-CSRF-Token": csrf, "If-Match": f'"{case.version}"'},
        )
        assert park.status == 200
        assert app.cases.timeline(case.id)[-1].actor == "admin:token"  # the actor comes from the session
        h = {"X-CSRF-Token": csrf}
        async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
            await device.start_listening("manual")
            await device.stop_listening()  # idle: ready for an announcement
            await app.registry.wait_online(device.config.device_id, 10)
            listed = (await (await http.get(f"{base}/api/console/devices")).json())["devices"]
            row = next(d for d in listed if d["device_id"] == device.config.device_id)
            assert row["online"] and row["transport"] == "websocket" and row["owner"] == "alice"
            dev = f"{base}/api/console/devices/{device.config.device_id}"
            vol = await http.post(f"{dev}/volume", json={"volume": 35}, headers=h)
            assert vol.status == 200 and device.mcp.state.volume == 35
            status = await (await http.get(f"{dev}/status")).json()
            assert status["status"]["audio_speaker"]["volume"] == 35
            assert (await http.post(f"{dev}/volume", json={"volume": 101}, headers=h)).status == 400
            spoken = await http.post(f"{dev}/announce", json={"text": "控制台测试播报"}, headers=h)
            assert spoken.status == 200
            await device.wait_json("tts", "start", timeout=10)
        for path in ("/api/console/days", "/api/console/devices", "/api/owners", "/api/console/report"):
            resp = await http.get(f"{base}{path}")
            assert resp.status == 200, path
            assert token not in await resp.text()
