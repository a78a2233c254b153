"""Mount the console on the running service's HTTP app (one call from server/app.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from server.console.routes import setup_console
from server.console.services import ConsoleServices
from server.console.sessions import ConsoleSessions
from server.dialogue.reports import ReportStore
from server.http.app import POLICY_KEY

if TYPE_CHECKING:
    from server.app import App
    from server.auth.devices import DeviceCredentials


def console_setup(svc: App, devices: DeviceCredentials | None) -> Callable[[web.Application], None]:
    """An ``extra_setup`` for ``build_http_app``: the console over this service's parts, behind its guard."""
    speech = svc.speech
    db = svc.db
    if db is None:
        raise RuntimeError("the console keeps its sessions in the service database: App.start opens it first")
    tts = speech.tts if speech is not None else None

    def fallbacks() -> dict[str, str]:
        if tts is None:
            return {"tts": "none"}
        in_use = tts.engine_in_use
        primary = tts.engines[0].name if tts.engines else in_use
        return {"tts": in_use if in_use == primary else f"{in_use} (fallback; {primary} unavailable)"}

    services = ConsoleServices(
        settings=svc.settings,
        reports=ReportStore(svc.settings.results_dir),
        registry=svc.registry,
        cases=svc.cases,
        # notify and schedules are App fields once their wiring lands (getattr: the console runs without them)
        notify=getattr(svc, "notify", None),
        voiceprints=svc.voiceprints,
        devices=devices,
        schedules=getattr(svc, "schedules", None),
        owner_names=svc.owners.names if svc.owners is not None else None,
        log_source=svc.owners.source_for if svc.owners is not None else None,
        started_at=datetime.now(UTC),
        synthesize=tts.synthesize if tts is not None else None,
        fallbacks=fallbacks,
    )

    def setup(app: web.Application) -> None:
        setup_console(app, services, app[POLICY_KEY], ConsoleSessions.from_settings(db, svc.settings))

    return setup
