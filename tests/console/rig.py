"""A console on the real HTTP app (guard, limits, REST routes) over a throw-away database and results dir."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import numpy as np
from aiohttp import web

from server.auth.devices import DeviceCredentials
from server.auth.throttle import AuthThrottle
from server.cases.routes import setup_case_routes
from server.cases.service import CaseService
from server.config import Settings
from server.console.routes import setup_console
from server.console.services import ConsoleServices
from server.console.sessions import ConsoleSessions
from server.dialogue.reports import ReportStore
from server.http.app import build_http_app
from server.notify.escalation import DEFAULT_POLICY
from server.notify.routes import setup_notify_routes
from server.notify.service import NotifyService
from server.owners import OwnerDirectory
from server.schedules.models import Schedule
from server.schedules.runner import ScheduleRunner
from server.schedules.store import ScheduleStore
from server.storage.db import Database
from server.vault.crypto import VaultCipher, master_key
from server.vault.store import CredentialVault
from server.voice.registry import DeviceRegistry
from server.voiceprint.routes import setup_owner_routes
from server.voiceprint.store import VoiceprintStore
from tests.http_auth import ADMIN_TOKEN, api_policy

DAY = "2026-11-26"
XSS = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"


@dataclass
class Rig:
    app: web.Application
    settings: Settings
    cases: CaseService
    notify: NotifyService
    voiceprints: VoiceprintStore
    vault: CredentialVault
    sessions: ConsoleSessions
    schedules: ScheduleRunner


def write_day(results: Path, owner: str = "default", day: str = DAY) -> None:
    """A small day report whose log text carries markup (it must show as text)."""
    d = results / day / owner
    d.mkdir(parents=True, exist_ok=True)
    (d / "llm_summary.txt").write_text(
        f"昨天 shop/order-api 报错 57 条。日志里有一行 {XSS}", encoding="utf-8"
    )
    hours = [0] * 24
    hours[3], hours[4] = 40, 17
    findings = [
        {
            "kind": "business",
            "category": "error_template",
            "severity": "high",
            "title": f"order-api errors {XSS}",
            "summary_zh": "order-api 报错 57 条",
            "count": 57,
            "namespace": "shop",
            "workload": "order-api",
            "template": f"db timeout {XSS}",
            "first_ts": 1795719404.0,
            "last_ts": 1795722104.0,
            "examples": [f"2026-11-26 03:10:00 ERROR order-api db timeout {XSS}"],
            "evidence": {"level": "ERROR", "hours": hours, "by_workload": {"order-api": 50, "cart-api": 7}},
            "id": "f1",
        },
        {
            "kind": "audit",
            "category": "change_before_errors",
            "severity": "critical",
            "title": "patch deployments shop/order-api by bob",
            "summary_zh": "bob 改了 order-api 的镜像",
            "count": 1,
            "namespace": "shop",
            "workload": "order-api",
            "first_ts": 1795719000.0,
            "last_ts": 1795719000.0,
            "examples": [],
            "evidence": {},
            "id": "f2",
        },
    ]
    data = {
        "owner": owner,
        "day": day,
        "generated_at": 0,
        "stats": {},
        "findings": findings,
        "timeline": [
            {
                "ts": 1795719000.0,
                "kind": "audit",
                "what": f"patch deployments shop/order-api {XSS}",
                "user": "bob",
            }
        ],
        "stage_seconds": {"source": 0.1, "parse": 0.5, "mine": 0.1},
        "no_logs": False,
        "incidents": [
            {
                "rank": 1,
                "namespace": "shop",
                "workload": "order-api",
                "severity": "critical",
                "impact": 57,
                "cause": "bad_image",
                "cause_zh": "bob 把 order-api 的镜像改坏了",
                "fix_zh": "回滚 order-api",
                "found": True,
                "finding_ids": ["f2", "f1"],
                "at": 1795719000.0,
            }
        ],
        "templates": [
            {
                "template": f"db timeout {XSS}",
                "count": 57,
                "level": "ERROR",
                "workload": "order-api",
                "kind": "business",
            }
        ],
        "analyst": "deterministic",
    }
    (d / "findings.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def build_rig(
    tmp: Path,
    *,
    encoder: object = None,
    throttle: AuthThrottle | None = None,
    synthesize: Callable[[str, int], Awaitable[np.ndarray]] | None = None,
    **settings_kw: object,
) -> Rig:
    settings = Settings(
        data_dir=tmp / "data",
        results_dir=tmp / "results",
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
        **settings_kw,  # type: ignore[arg-type]
    )
    write_day(settings.results_dir)
    db = Database.sqlite(tmp / "c.sqlite3")
    db.create_all()
    cipher = VaultCipher(master_key("", tmp))
    cases = CaseService(db)
    notify = NotifyService(db, cipher, cases, policy=DEFAULT_POLICY)
    voiceprints = VoiceprintStore(db, encoder)  # type: ignore[arg-type]
    vault = CredentialVault(db, cipher)
    policy = api_policy(throttle or AuthThrottle(max_failures=5, lockout_s=60))
    registry = DeviceRegistry()
    announced: list[int] = []

    async def announce(schedule: Schedule) -> str:
        announced.append(schedule.id)
        return "spoken"

    schedules = ScheduleRunner(ScheduleStore(db), announce, UTC)
    holder: dict[str, ConsoleSessions] = {}

    def mount_console(a: web.Application) -> None:
        holder["s"] = setup_console(a, services, policy, ConsoleSessions.from_settings(db, settings))

    services = ConsoleServices(
        settings=settings,
        reports=ReportStore(settings.results_dir),
        registry=registry,
        cases=cases,
        notify=notify,
        voiceprints=voiceprints,
        devices=DeviceCredentials(db),
        owner_names=lambda: [o.name for o in voiceprints.list_owners()],
        log_source=OwnerDirectory(settings, voiceprints, vault).source_for,
        synthesize=synthesize,
        schedules=schedules,
    )
    app = build_http_app(
        settings,
        registry,
        policy=policy,
        extra_setup=[
            lambda a: setup_case_routes(a, cases),
            lambda a: setup_notify_routes(a, notify),
            lambda a: setup_owner_routes(a, store=voiceprints, vault=vault, admin_token=""),
            mount_console,
        ],
        client_max_size=32 << 20,
    )
    return Rig(app, settings, cases, notify, voiceprints, vault, holder["s"], schedules)
