"""From a new alert case to the owner's ear: trace the cause, propose a plan, speak now or at the next wake.

Delivery ladder: an owner's device with an open socket hears it now (server-initiated speech on an idle or
listening device); otherwise the announcement is stored and spoken first thing when a device next connects
("有 2 条新告警"). The tracer is deterministic and only *proposes* (a rollback plan through the case FSM);
nothing runs until a person approves by voice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table, Text, insert, select, update

from agents.evidence import StoreSet
from agents.tracer import AFTER_S, BEFORE_S, AlertKeys, Trace, render_spoken, trace
from server.alerts.models import Alert
from server.cases.plans import PlanError, deterministic_plan
from server.cases.service import CaseService
from server.config import Settings
from server.storage.db import Database, metadata
from server.voice.registry import DeviceRegistry

if TYPE_CHECKING:
    from server.dialogue.session import DialogueServices, DialogueSession

log = logging.getLogger(__name__)

announcements = Table(
    "announcements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("case_id", Integer, nullable=True),
    Column("ask_rollback", Boolean, nullable=False, default=False),  # the announcement ends with the question
    Column("sentences", Text, nullable=False),  # JSON list of speakable sentences
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
)

ROLLBACK_QUESTION = "是否需要回滚？"
RECENT_TRACES = 200


@dataclass
class Announcement:
    id: int
    owner: str
    case_id: int | None
    ask_rollback: bool
    sentences: list[str]


class AlertDelivery:
    def __init__(
        self,
        settings: Settings,
        registry: DeviceRegistry,
        cases: CaseService,
        db: Database,
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.cases = cases
        self.evidence_root = Path(settings.data_dir) / "pipeline"  # the pipeline's state dir holds evidence/
        self.services: DialogueServices | None = None
        self.traces: OrderedDict[int, Trace] = (
            OrderedDict()
        )  # recent case id → trace (the timeline keeps all)

    def attach(self, services: DialogueServices) -> None:
        self.services = services
        self.registry.add_listener(self._on_device)

    # ---- alert → case → trace → plan

    async def on_new_case(self, case: Any, alert: Alert) -> None:
        try:
            result = await asyncio.to_thread(self._trace, case.owner, alert)
        except Exception:
            log.exception("tracing case %s failed; announcing the alert without a cause", case.id)
            result = None
        sentences = self._spoken(alert, result)
        if result is not None:
            self.traces[case.id] = result
            while len(self.traces) > RECENT_TRACES:
                self.traces.popitem(last=False)
            self._record_trace(case, result)
        await self.announce(case.owner, sentences, case.id, ask_rollback=bool(result and result.rollback))

    def _trace(self, owner: str, alert: Alert) -> Trace:
        keys = AlertKeys.build(
            alert.starts_at,
            namespace=alert.namespace,
            workload=alert.workload,
            pod=alert.pod,
            title=alert.title,
            description=alert.description,
            labels=alert.labels,
        )
        stores = StoreSet.for_window(
            self.evidence_root, owner, keys.at - BEFORE_S, keys.at + AFTER_S, self.settings.timezone
        )
        try:
            return trace(keys, stores, timezone=self.settings.timezone)
        finally:
            stores.close()

    def _record_trace(self, case: Any, result: Trace) -> None:
        detail = {
            "cause": result.cause,
            "confidence": result.confidence,
            "root_cause": result.root_cause_zh,
            "fix": result.fix_zh,
            "chain": [{"kind": s.kind, "title": s.title, "count": s.count} for s in result.chain],
        }
        self.cases.add_note(
            case.id, actor="tracer", text=result.root_cause_zh or "no cause found", detail=detail
        )
        if result.rollback is None:
            return
        try:
            plan = deterministic_plan(**result.plan_args())
            self.cases.propose_plan(case.id, plan, actor="tracer", proposed_by="deterministic")
        except PlanError as exc:  # an incomplete rollback target: the case stays for a human to plan
            log.warning("case %s: rollback plan rejected by validation: %s", case.id, exc)

    def _spoken(self, alert: Alert, result: Trace | None) -> list[str]:
        if result is None:
            return [f"收到告警：{alert.title[:60]}。", "暂时无法分析原因，请查看控制台。"]
        sentences = render_spoken(result, self.settings.timezone)
        if result.rollback is not None and not any(ROLLBACK_QUESTION in s for s in sentences):
            sentences.append(ROLLBACK_QUESTION)
        return sentences

    # ---- the ladder

    def _sessions_for(self, owner: str) -> list[DialogueSession]:
        if self.services is None:
            return []
        sessions = [s for s in self.services.sessions.values() if s.channel is not None]
        bound = [s for s in sessions if s.owner == owner]
        return bound or sessions  # a shared desk robot: any open device, when none is bound to this owner

    async def announce(
        self, owner: str, sentences: list[str], case_id: int | None, ask_rollback: bool
    ) -> None:
        row_id = self._store(owner, sentences, case_id, ask_rollback)
        sessions = self._sessions_for(owner)
        if not sessions:
            log.info("no open device for %s: alert queued for the next wake", owner)
            return
        session = sessions[0]
        await session.announce(sentences, case_id=case_id, ask_rollback=ask_rollback)
        self._delivered([row_id])

    def _store(self, owner: str, sentences: list[str], case_id: int | None, ask_rollback: bool) -> int:
        with self.db.engine.begin() as conn:
            res = conn.execute(
                insert(announcements).values(
                    owner=owner,
                    case_id=case_id,
                    ask_rollback=ask_rollback,
                    sentences=json.dumps(sentences, ensure_ascii=False),
                    created_at=datetime.now(UTC),
                )
            )
            return int(res.inserted_primary_key[0])

    def _delivered(self, ids: list[int]) -> None:
        if not ids:
            return
        with self.db.engine.begin() as conn:
            conn.execute(
                update(announcements)
                .where(announcements.c.id.in_(ids))
                .values(delivered_at=datetime.now(UTC))
            )

    def pending(self, owner: str | None = None) -> list[Announcement]:
        q = select(announcements).where(announcements.c.delivered_at.is_(None)).order_by(announcements.c.id)
        if owner is not None:
            q = q.where(announcements.c.owner == owner)
        with self.db.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            Announcement(
                r["id"], r["owner"], r["case_id"], bool(r["ask_rollback"]), json.loads(r["sentences"])
            )
            for r in rows
        ]

    def _on_device(self, event: str, channel: Any) -> None:
        if event == "online" and self.pending():
            asyncio.get_running_loop().create_task(self._deliver_queued(channel.info.device_id))

    async def _deliver_queued(self, device_id: str) -> None:
        """First thing at the next wake: "有 N 条新告警", then each, the last one's question left open."""
        if self.services is None:
            return
        for _ in range(100):  # the session registers itself right after the hello
            session = self.services.sessions.get(device_id)
            if session is not None and session.channel is not None:
                break
            await asyncio.sleep(0.05)
        else:
            return
        try:
            await session.channel.wait_ready(15.0)  # type: ignore[union-attr]
        except TimeoutError:
            return
        items = self.pending()
        if not items:
            return
        sentences = [f"有{len(items)}条新告警。"]
        for item in items:
            sentences += item.sentences
        asking = next((i for i in reversed(items) if i.ask_rollback), None)
        await session.announce(
            sentences, case_id=asking.case_id if asking else None, ask_rollback=asking is not None
        )
        self._delivered([i.id for i in items])

    async def on_recovered(self, case: Any, group: Any) -> None:
        log.info("case %s: its alert recovered", case.id)
