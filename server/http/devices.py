"""Device credentials API (CONFIGURE permission): list devices, activate one by the code it speaks, revoke.

GET  /api/devices                        -> {"devices": [...]}  (no token values, ever)
POST /api/devices/activate   {"code"}    -> {"device_id": ...}  (404 when no device waits with that code)
POST /api/devices/{device_id}/revoke     -> {"device_id": ..., "revoked": n}
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from server.auth.devices import DeviceCredentials
from server.auth.principal import Permission
from server.vault.auth import principal_of, requires


def setup_device_routes(app: web.Application, devices: DeviceCredentials) -> None:
    configure = requires(Permission.CONFIGURE)

    async def list_devices(_request: web.Request) -> web.Response:
        found = await asyncio.to_thread(devices.devices)
        return web.json_response({"devices": [d.to_dict() for d in found]})

    async def activate(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": 'body must be JSON: {"code": "123456"}'}, status=400)
        code = body.get("code") if isinstance(body, dict) else None
        if not isinstance(code, str):
            return web.json_response({"error": 'body must be {"code": "123456"}'}, status=400)
        principal = principal_of(request)
        actor = principal.actor if principal else "?"
        device_id = await asyncio.to_thread(devices.activate, code, actor=actor)
        if device_id is None:
            return web.json_response({"error": "no device is waiting with that code"}, status=404)
        return web.json_response({"device_id": device_id, "activated": True})

    async def revoke(request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        n = await asyncio.to_thread(devices.revoke, device_id)
        return web.json_response({"device_id": device_id.lower(), "revoked": n})

    app.router.add_get("/api/devices", configure(list_devices))
    app.router.add_post("/api/devices/activate", configure(activate))
    app.router.add_post("/api/devices/{device_id}/revoke", configure(revoke))
