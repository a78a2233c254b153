"""Issue 10 §5: in token mode OTA hands a per-device token only to an activated device; tokens are revocable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from server.auth.devices import DeviceCredentials
from server.cli import main
from server.config import Settings
from server.http.app import build_http_app
from server.storage.db import Database
from server.voice.registry import DeviceRegistry
from server.voice.transport import token_allowed
from tests.alerts.helpers import serve
from tests.http_auth import ADMIN, OPERATOR, api_policy

MAC = "aa:bb:cc:dd:ee:01"
FIRMWARE = {"application": {"name": "xiaozhi", "version": "2.4.2"}, "mac_address": MAC.upper()}


def _headers(mac: str = MAC) -> dict[str, str]:
    return {
        "Device-Id": mac,
        "Client-Id": "0b6a3c4e-1111",
        "Activation-Version": "1",
        "User-Agent": "bread/2.4.2",
    }


@asynccontextmanager
async def stack(tmp_path: Path, **kw: object) -> AsyncIterator[tuple[str, DeviceCredentials, Settings]]:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        host="127.0.0.1",
        auth_mode="token",
        device_tokens="static-tk1",
        **kw,
    )
    db = Database.sqlite(tmp_path / "dev.sqlite3")
    db.create_all()
    devices = DeviceCredentials(db, settings.device_allowlist)
    app = build_http_app(settings, DeviceRegistry(), policy=api_policy(), devices=devices)
    try:
        async with serve(app) as url:
            yield url, devices, settings
    finally:
        db.dispose()


async def _ota(http: aiohttp.ClientSession, url: str, mac: str = MAC) -> tuple[dict, str]:
    async with http.post(f"{url}/xiaozhi/ota/", json=FIRMWARE, headers=_headers(mac)) as r:
        assert r.status == 200
        return await r.json(), await r.text()


async def test_unauthenticated_ota_discloses_no_token_until_activated(tmp_path: Path) -> None:
    async with stack(tmp_path) as (url, devices, settings), aiohttp.ClientSession() as http:
        body, text = await _ota(http, url)
        assert body["websocket"]["token"] == "" and "static-tk1" not in text and "xdt_" not in text
        code = body["activation"]["code"]
        assert len(code) == 6 and code.isdigit() and body["activation"]["challenge"] == MAC
        async with http.post(f"{url}/xiaozhi/ota/activate", json={}, headers=_headers()) as r:
            assert r.status == 202  # the firmware retries every 3 s
        # no headers at all, a GET, another device: still nothing
        async with http.get(f"{url}/xiaozhi/ota/") as r:
            assert (await r.json())["websocket"]["token"] == ""

        # the admin types the code the robot speaks (an operator may not)
        async with http.post(f"{url}/api/devices/activate", json={"code": code}, headers=OPERATOR) as r:
            assert r.status == 403
        async with http.post(
            f"{url}/api/devices/activate",
            json={"code": "000000" if code != "000000" else "111111"},
            headers=ADMIN,
        ) as r:
            assert r.status == 404
        async with http.post(f"{url}/api/devices/activate", json={"code": code}, headers=ADMIN) as r:
            assert r.status == 200 and (await r.json())["device_id"] == MAC
        async with http.post(f"{url}/xiaozhi/ota/activate", json={}, headers=_headers()) as r:
            assert r.status == 200
        body, _ = await _ota(http, url)
        token = body["websocket"]["token"]
        assert token.startswith("xdt_") and "activation" not in body

        # the WebSocket accepts it for this device only
        assert token_allowed(settings, token, MAC, devices.verify)
        assert not token_allowed(settings, token, "aa:bb:cc:dd:ee:99", devices.verify)
        assert not token_allowed(settings, "", MAC, devices.verify)
        assert token_allowed(settings, "static-tk1", "", devices.verify)  # configured tokens still work

        # the next OTA check rotates it
        again, _ = await _ota(http, url)
        assert again["websocket"]["token"] != token and not devices.verify(token, MAC)
        token = again["websocket"]["token"]

        async with http.get(f"{url}/api/devices", headers=ADMIN) as r:
            listing = await r.text()
            assert r.status == 200 and MAC in listing and "xdt_" not in listing
        async with http.post(f"{url}/api/devices/{MAC}/revoke", headers=ADMIN) as r:
            assert r.status == 200 and (await r.json())["revoked"] == 1
        assert not devices.verify(token, MAC)
        body, _ = await _ota(http, url)  # activation removed: the device must be activated again
        assert body["websocket"]["token"] == "" and "activation" in body


async def test_allow_listed_device_gets_a_token_others_do_not(tmp_path: Path) -> None:
    async with (
        stack(tmp_path, device_allowlist=MAC.upper()) as (url, _devices, _),
        aiohttp.ClientSession() as http,
    ):
        body, _ = await _ota(http, url)
        assert body["websocket"]["token"].startswith("xdt_") and "activation" not in body
        other, _ = await _ota(http, url, "aa:bb:cc:dd:ee:02")
        assert other["websocket"]["token"] == "" and "activation" in other


def test_tokens_cli_activate_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db_url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    db = Database(db_url)
    db.create_all()
    devices = DeviceCredentials(db)
    code = devices.activation_code(MAC)
    assert (
        main(["tokens", "activate", "999999" if code != "999999" else "999998", "--database-url", db_url])
        == 1
    )
    assert main(["tokens", "activate", code, "--database-url", db_url]) == 0
    token = devices.issue(MAC)
    assert main(["tokens", "list", "--database-url", db_url]) == 0
    out = capsys.readouterr().out
    assert MAC in out and "activated" in out and token not in out
    assert main(["tokens", "revoke", MAC.upper(), "--database-url", db_url]) == 0
    assert not devices.verify(token, MAC) and not devices.is_activated(MAC)
    with pytest.raises(PermissionError):
        devices.issue(MAC)
    db.dispose()


async def test_websocket_accepts_a_per_device_token_for_its_device_only(tmp_path: Path) -> None:
    from websockets.exceptions import InvalidStatus

    from firmware_bridge.virtual_device import VirtualDevice
    from tests.device.helpers import running_server

    db = Database.sqlite(tmp_path / "ws.sqlite3")
    db.create_all()
    devices = DeviceCredentials(db, MAC)
    token = devices.issue(MAC)
    async with running_server(handler_kwargs={"sentences": 1, "seconds": 0.3}, auth_mode="token") as h:
        h.server.device_token_ok = devices.verify
        async with VirtualDevice(h.url, device_id=MAC, token=token) as dev:
            assert dev.session_id  # hello answered
        for device_id, tok in (("aa:bb:cc:dd:ee:77", token), (MAC, token + "x"), (MAC, "")):
            with pytest.raises(InvalidStatus) as err:
                await VirtualDevice(h.url, device_id=device_id, token=tok).connect()
            assert err.value.response.status_code == 401
        devices.revoke(MAC)
        with pytest.raises(InvalidStatus):
            await VirtualDevice(h.url, device_id=MAC, token=token).connect()
    db.dispose()


def test_pending_activations_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import server.auth.devices as devmod

    monkeypatch.setattr(devmod, "MAX_PENDING", 5)
    db = Database.sqlite(tmp_path / "pending.sqlite3")
    db.create_all()
    devices = DeviceCredentials(db)
    codes = [devices.activation_code(f"aa:00:00:00:00:{i:02x}") for i in range(12)]
    assert len(set(codes)) == 12
    waiting = [d for d in devices.devices() if d.pending_code]
    assert len(waiting) == 5 and waiting[-1].device_id == "aa:00:00:00:00:0b"
    assert devices.activate(codes[0], actor="t") is None  # forgotten: the device asks again at its next boot
    assert devices.activate(codes[-1], actor="t") == "aa:00:00:00:00:0b"
    db.dispose()
