"""A running MQTT+UDP stack (embedded broker, UDP endpoint, OTA + notify over HTTP) on free ports, with the
recording handler of the device tests standing in for the dialogue."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from firmware_bridge.mqtt_device import MqttSettings, MqttVirtualDevice, fetch_ota
from server.http.ota import setup_ota
from server.mqtt.service import MqttService
from server.voice.channel import DeviceInfo
from server.voice.registry import DeviceRegistry
from tests.device.helpers import RecordingHandler, make_settings


@dataclass
class Stack:
    service: MqttService
    http_port: int
    handlers: list[RecordingHandler]
    registry: DeviceRegistry
    notes: list[tuple[int, str, dict[str, Any]]]

    @property
    def ota_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/xiaozhi/ota/"

    def handler_for(self, device_id: str) -> RecordingHandler:
        for h in reversed(self.handlers):
            if h.info.device_id == device_id:
                return h
        raise LookupError(device_id)

    async def ota(self, device_id: str, version: str = "2.5.1") -> dict[str, Any]:
        return await fetch_ota(self.ota_url, device_id, str(uuid.uuid4()), version=version)

    async def device(self, device_id: str, version: str = "2.5.1", **kw: Any) -> MqttVirtualDevice:
        settings = MqttSettings.from_ota(await self.ota(device_id, version))
        dev = MqttVirtualDevice(settings, device_id=device_id, **kw)
        await dev.connect_control()
        return dev


@contextlib.asynccontextmanager
async def running_stack(
    tmp: Path, device_allowed: Callable[[str], bool] | None = None, **overrides: Any
) -> AsyncIterator[Stack]:
    base: dict[str, Any] = {
        "data_dir": tmp,
        "mqtt_enabled": True,
        "mqtt_port": 0,
        "mqtt_tls_port": 0,
        "udp_port": 0,
        "http_port": 0,
    }
    base.update(overrides)
    settings = make_settings(**base)
    handlers: list[RecordingHandler] = []
    notes: list[tuple[int, str, dict[str, Any]]] = []

    def factory(info: DeviceInfo) -> RecordingHandler:
        h = RecordingHandler(info)
        handlers.append(h)
        return h

    registry = DeviceRegistry()
    service = MqttService(
        settings,
        registry,
        factory,
        device_allowed=device_allowed,
        note=lambda c, t, d: notes.append((c, t, d)),
    )
    await service.start("127.0.0.1")
    app = web.Application()
    setup_ota(app, settings, None, service)
    service.setup_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    service.http_port = port
    try:
        yield Stack(service, port, handlers, registry, notes)
    finally:
        await service.stop()
        await runner.cleanup()
