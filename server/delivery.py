"""From a new alert case to its owner's ear: trace the cause, propose a plan, speak now or at the owner's next wake.

Routing: a case belongs to the owner whose cloud account raised the alert (``server.owners.AccountDirectory``).
Its announcement is spoken only to that owner:

* on a device where that owner's voice was identified in this connection (the voiceprint picked them), or
* on a device bound to that owner (``XOPS_DEVICE_OWNERS``), or, in single-user mode (nobody has enrolled a
  voiceprint), on any device when the owner is the default owner.

Otherwise it stays queued. Queued announcements reach the owner after their own question has been answered (the
turn's reply is spoken first), or on a wake of a device bound to them; a backlog is spoken as one digest
("有 2492 条新告警，最严重的 3 条是…"), never as thousands of sentences. An announcement is marked delivered only when
its audio was played out (not when the device disconnected or the speech was interrupted), with the device and the
voice it reached. The tracer is deterministic and only *proposes* (a rollback plan through the case FSM); nothing
runs until a person approves by voice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    insert,
    select,
    update,
)

from agents.evidence import StoreSet
from agents.tracer import AFTER_S, BEFORE_S, AlertKeys, Trace, render_spoken, trace
from server.alerts.models import Alert
from server.cases.fsm import State
from server.cases.plans import PlanError, plan_from_trace
from server.cases.service import CaseService
from server.cases.store import CaseError, cases
from server.config import Settings
from server.storage.db import Database, metadata
from server.voice.registry import DeviceRegistry

if TYPE_CHECKING:
    from server.dialogue.context import TurnContext
    from server.dialogue.replies import Reply
    from server.dialogue.session import DialogueServices, DialogueSession

log = logging.getLogger(__name__)

announcements = Table(
    "alert_announcements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(128), nullable=False),  # spoken only to this owner
    Column("case_id", Integer, nullable=True),
    Column("severity", String(16), nullable=False, default="warning"),
    Column("title", String(500), nullable=False, default=""),
    Column("ask_rollback", Boolean, nullable=False, default=False),  # the announcement ends with the question
    Column("sentences", Text, nullable=False),  # JSON list of speakable sentences
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),  # set only after play-out
    Column("delivered_device", String(128), nullable=True),  # the device it was played on
    # how the listener was known: voice:<owner> (identified), bound (XOPS_DEVICE_OWNERS), single-user
    Column("delivered_voice", String(160), nullable=True),
    Index("ix_alert_announcements_pending", "owner", "delivered_at"),
    Index("ix_alert_announcements_case", "case_id"),
)

ROLLBACK_QUESTION = "是否需要回滚？"
RECENT_TRACES = 200
RETRACE_EVERY_S = 60.0  # a case's group re-traced for a new child alert at most this often
DIGEST_TOP = 3
WAKE_GRACE_S = 2.0  # after a wake, give the user this long to ask their own question before the digest
_SEVERITY_RANK = {"critical": 2, "warning": 1, "info": 0}
_SEVERITY_CN = {"critical": "严重", "warning": "警告", "info": "提示"}
_UNFINISHED = (State.NEW, State.ANALYZING, State.PLANNING, State.WAIT_GATE)


@dataclass
class Announcement:
    id: int
    owner: str
    case_id: int | None
    ask_rollback: bool
    sentences: list[str]
    severity: str = "warning"
    title: str = ""


@dataclass(frozen=True)
class Digest:
    """What one delivery says: bounded, whatever the backlog."""

    sentences: list[str]
    ask_case_id: int | None  # the case whose rollback question is left open (the last thing said)
    ids: list[int]  # every announcement this digest covers


def build_digest(items: list[Announcement], *, backlog: bool = True) -> Digest:
    """One announcement: its own sentences (prefixed "有1条新告警。" when it waited in a queue). Several: the count,
    the most severe three by title, then the most severe one in full — at most a handful of sentences."""
    if not items:
        return Digest([], None, [])
    ids = [i.id for i in items]
    if len(items) == 1:
        only = items[0]
        prefix = ["有1条新告警。"] if backlog else []
        return Digest(prefix + only.sentences, only.case_id if only.ask_rollback else None, ids)
    ranked = sorted(items, key=lambda i: (_SEVERITY_RANK.get(i.severity, 0), i.id), reverse=True)
    top = ranked[:DIGEST_TOP]
    names = "；".join(f"{_SEVERITY_CN.get(i.severity, '告警')}，{_short_title(i)}" for i in top)
    sentences = [f"有{len(items)}条新告警，最严重的{len(top)}条是：{names}。"]
    first = top[0]
    sentences.append("第一条的详情：")
    sentences += first.sentences
    if len(items) > len(top):
        sentences.insert(1, "其余的可以说“有哪些告警”来查看，或者在控制台处理。")
    if first.ask_rollback and sentences[-1] != ROLLBACK_QUESTION:
        sentences.append(ROLLBACK_QUESTION)
    return Digest(sentences, first.case_id if first.ask_rollback else None, ids)


def _short_title(item: Announcement, limit: int = 40) -> str:
    title = (item.title or (item.sentences[0] if item.sentences else "告警")).strip().rstrip("。")
    return title if len(title) <= limit else title[: limit - 1] + "…"


def parse_device_owners(text: str) -> dict[str, str]:
    """``"aa:bb:cc:dd:ee:ff=alice, 11:22:33:44:55:66=张三"`` → device id → owner."""
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        device, sep, owner = item.rpartition("=")
        if not sep or not device.strip() or not owner.strip():
            raise ValueError(f"XOPS_DEVICE_OWNERS entry {item!r} must be DEVICE_ID=OWNER")
        out[device.strip().lower()] = owner.strip()
    return out


class AlertDelivery:
    def __init__(
        self,
        settings: Settings,
        registry: DeviceRegistry,
        cases: CaseService,
        db: Database,
        *,
        enrolled_owners: Callable[[], list[str]] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.cases = cases
        self.evidence_root = Path(settings.data_dir) / "pipeline"  # the pipeline's state dir holds evidence/
        self.services: DialogueServices | None = None
        self.enrolled_owners = enrolled_owners or (lambda: [])
        self.device_owners = parse_device_owners(getattr(settings, "device_owners", ""))
        # recent case id → trace (the timeline keeps all)
        self.traces: OrderedDict[int, Trace] = OrderedDict()
        self._retraced: dict[int, float] = {}  # case id → loop time before which it is not re-traced
        self._owner_locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._after_turn: set[str] = set()  # devices with a digest already waiting for the turn to end
        # ladder rungs 2-3 (issue 14): MQTT notify, else MQTT alert, to the owner's idle MQTT devices;
        # set by server.app to server.mqtt.service.MqttService.push_owner when MQTT is enabled
        self.push_owner: Callable[..., Awaitable[Any]] | None = None

    def attach(self, services: DialogueServices) -> None:
        self.services = services
        self.registry.add_listener(self._on_device)
        # first hook: it only notes who spoke (never answers), so the user's question is answered first
        services.turn_hooks.insert(0, self._on_turn)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- alert → case → trace → plan

    async def on_new_case(self, case: Any, alert: Alert) -> None:
        try:
            result = await asyncio.to_thread(self._trace, case.owner, alert)
        except Exception:
            log.exception("tracing case %s failed; announcing the alert without a cause", case.id)
            result = None
        sentences = self._spoken(alert, result)
        ask = False
        if result is not None:
            self.traces[case.id] = result
            while len(self.traces) > RECENT_TRACES:
                self.traces.popitem(last=False)
            ask = await asyncio.to_thread(self._record_trace, case, result)
        if not ask:
            sentences = [s for s in sentences if ROLLBACK_QUESTION not in s]
        await self.announce(
            case.owner,
            sentences,
            case.id,
            ask_rollback=ask,
            severity=getattr(case, "severity", alert.severity),
            title=alert.title,
        )

    async def on_new_child(self, case: Any, alert: Alert) -> None:
        """Another alert joined an open case's group (same workload and alarm policy). If its trace names a
        different cause than the one already spoken, that is a new problem: note it and say it."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._retraced.get(case.id, 0.0):
            return  # at most one re-trace per case per minute: a burst of pods is one question
        self._retraced[case.id] = loop.time() + RETRACE_EVERY_S
        try:
            result = await asyncio.to_thread(self._trace, case.owner, alert)
        except Exception:
            log.exception("re-tracing case %s failed", case.id)
            return
        if not result.found:
            return
        previous = await asyncio.to_thread(self._spoken_cause, case.id)
        if previous == (result.cause, result.root_cause_zh):
            return
        detail = {
            "cause": result.cause,
            "root_cause": result.root_cause_zh,
            "fix": result.fix_zh,
            "new_cause": True,
        }
        await asyncio.to_thread(
            self.cases.add_note,
            case.id,
            actor="tracer",
            text=result.root_cause_zh or result.cause,
            detail=detail,
        )
        sentences = [s for s in self._spoken(alert, result) if ROLLBACK_QUESTION not in s]
        await self.announce(
            case.owner,
            [f"{alert.title[:40]}又出现了新的问题。", *sentences],
            case.id,
            ask_rollback=False,
            severity=getattr(case, "severity", alert.severity),
            title=alert.title,
        )

    def _spoken_cause(self, case_id: int) -> tuple[str, str] | None:
        """The (cause, sentence) the tracer last recorded on the case's timeline."""
        for entry in reversed(self.cases.store.timeline(case_id)):
            detail = entry.detail if isinstance(entry.detail, dict) else {}
            if entry.actor == "tracer" and "cause" in detail:
                return str(detail["cause"]), str(detail.get("root_cause") or "")
        return None

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

    def _record_trace(self, case: Any, result: Trace) -> bool:
        """Note the cause on the timeline and propose the rollback; True when a plan now waits for approval."""
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
        if not result.actionable:  # the tracer's undo: a rollback or a config restore of the causal object
            return False
        current = self.cases.get_case(case.id)
        if current is not None and current.status is State.WAIT_GATE:
            return True  # resumed after a restart: the plan was already proposed
        if current is None or current.status not in (State.NEW, State.ANALYZING, State.PLANNING):
            return False
        try:
            plan = plan_from_trace(result)
            self.cases.propose_plan(case.id, plan, actor="tracer", proposed_by="deterministic")
        except PlanError as exc:  # an incomplete rollback target: the case stays for a human to plan
            log.warning("case %s: rollback plan rejected by validation: %s", case.id, exc)
            return False
        except CaseError as exc:
            log.warning("case %s: rollback plan not proposed: %s", case.id, exc)
            return False
        return True

    def _spoken(self, alert: Alert, result: Trace | None) -> list[str]:
        if result is None:
            return [f"收到告警：{alert.title[:60]}。", "暂时无法分析原因，请查看控制台。"]
        sentences = render_spoken(result, self.settings.timezone)
        if result.actionable and not any(ROLLBACK_QUESTION in s for s in sentences):
            sentences.append(ROLLBACK_QUESTION)
        return sentences

    # ---- start-up: committed cases that were never announced resume

    async def resume(
        self, load_alert: Callable[[str], Alert | None], *, before: datetime | None = None
    ) -> int:
        """Every committed, unfinished case without an announcement is traced and announced now.
        ``before``: only cases created before this process started (newer ones have their own hook running)."""
        todo = await asyncio.to_thread(self._unannounced, before)
        resumed = 0
        for case_id, alert_id in todo:
            case = await asyncio.to_thread(self.cases.get_case, case_id)
            alert = await asyncio.to_thread(load_alert, alert_id) if alert_id else None
            if case is None or alert is None:
                continue
            try:
                await self.on_new_case(case, alert)
                resumed += 1
            except Exception:
                log.exception("resuming case %s failed", case_id)
        if todo:
            log.info("resumed %d of %d committed cases that were never announced", resumed, len(todo))
        return resumed

    def _unannounced(self, before: datetime | None = None) -> list[tuple[int, str | None]]:
        has_announcement = select(announcements.c.id).where(announcements.c.case_id == cases.c.id).exists()
        q = (
            select(cases.c.id, cases.c.alert_id)
            .where(and_(cases.c.status.in_([s.value for s in _UNFINISHED]), ~has_announcement))
            .where(cases.c.alert_id.is_not(None))
            .order_by(cases.c.id)
        )
        if before is not None:
            q = q.where(cases.c.created_at < before)
        with self.db.engine.connect() as conn:
            return [(r.id, r.alert_id) for r in conn.execute(q)]

    # ---- routing: whose ears

    def device_owner(self, device_id: str) -> str | None:
        """The owner a device is bound to: configured, or the default owner in single-user mode."""
        bound = self.device_owners.get(device_id.lower())
        if bound:
            return bound
        if not self.enrolled_owners():
            return self.settings.default_owner  # single-user mode: nobody enrolled a voiceprint
        return None

    def listener(self, session: DialogueSession, owner: str) -> str | None:
        """How we know ``owner`` is the one listening on this session, or None when we don't."""
        if session.channel is None:
            return None
        if session.owner == owner:
            return f"voice:{owner}"
        if session.owner is not None and self.enrolled_owners():
            return None  # someone else's voice was identified here last: not in their ears
        bound = self.device_owner(session.info.device_id)
        if bound == owner:
            return "bound" if session.info.device_id.lower() in self.device_owners else "single-user"
        return None

    def _sessions_for(self, owner: str) -> list[tuple[DialogueSession, str]]:
        if self.services is None:
            return []
        out = []
        for session in list(self.services.sessions.values()):
            via = self.listener(session, owner)
            if via is not None:
                out.append((session, via))
        out.sort(key=lambda sv: not sv[1].startswith("voice:"))  # the identified voice first
        return out

    # ---- the ladder

    async def announce(
        self,
        owner: str,
        sentences: list[str],
        case_id: int | None,
        ask_rollback: bool,
        *,
        severity: str = "warning",
        title: str = "",
    ) -> None:
        row_id = await asyncio.to_thread(
            self._store, owner, sentences, case_id, ask_rollback, severity, title
        )
        targets = self._sessions_for(owner)
        if not targets:
            if await self._push_idle(owner, sentences, case_id):
                return  # stays queued too: the woken device offers it first
            log.info("no device is listening for owner %s: alert queued for their next wake", owner)
            return
        session, via = targets[0]
        await self._deliver(session, owner, via, fresh=row_id)

    async def speak_to_owner(self, owner: str, sentences: list[str]) -> str:
        """Not an alert (a schedule's announcement): speak it now on a device listening for ``owner``, else push
        it to an idle MQTT device of theirs; nothing is queued. Returns what happened."""
        targets = self._sessions_for(owner)
        if targets:
            session, _via = targets[0]
            await self._wait_turn_idle(session)
            played = await session.announce(sentences, case_id=None, ask_rollback=False)
            return f"spoken on {session.info.device_id}" if played is True else "interrupted"
        if self.push_owner is not None:
            outcome = await self.push_owner(owner, sentences, None, self.device_owner)
            if str(outcome) != "offline":
                return f"pushed ({outcome})"
        return "offline: no device of this owner was reachable"

    async def _push_idle(self, owner: str, sentences: list[str], case_id: int | None) -> bool:
        """MQTT rungs of the ladder: True when a notify or alert was sent to an idle device of ``owner``."""
        if self.push_owner is None:
            return False
        try:
            outcome = await self.push_owner(owner, sentences, case_id, self.device_owner)
        except Exception:
            log.exception("MQTT push for owner %s failed; the alert stays queued", owner)
            return False
        if str(outcome) == "offline":
            return False
        log.info("alert for owner %s pushed by MQTT %s; queued for their next wake as well", owner, outcome)
        return True

    async def _deliver(
        self, session: DialogueSession, owner: str, via: str, *, fresh: int | None = None
    ) -> bool:
        """Speak the owner's pending announcements on ``session`` (one digest); True when it was played out."""
        lock = self._owner_locks.setdefault(owner, asyncio.Lock())
        async with lock:
            await self._wait_turn_idle(session)
            items = await asyncio.to_thread(self.pending, owner)
            if not items:
                return False
            digest = build_digest(items, backlog=not (len(items) == 1 and items[0].id == fresh))
            played = await session.announce(
                digest.sentences, case_id=digest.ask_case_id, ask_rollback=digest.ask_case_id is not None
            )
            if played is not True:
                log.info(
                    "alert digest for %s on %s was not played out; it stays queued",
                    owner,
                    session.info.device_id,
                )
                return False
            await asyncio.to_thread(self._delivered, digest.ids, session.info.device_id, via)
            return True

    @staticmethod
    async def _wait_turn_idle(session: DialogueSession, limit_s: float = 120.0) -> None:
        """The user's own question is answered first: wait for a running turn (and its speech) to finish."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while loop.time() < deadline:
            task = session.turn_task
            if task is None or task.done() or task is asyncio.current_task():
                return
            with contextlib.suppress(asyncio.CancelledError, Exception, TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout=max(0.0, deadline - loop.time()))

    def _store(
        self,
        owner: str,
        sentences: list[str],
        case_id: int | None,
        ask_rollback: bool,
        severity: str,
        title: str,
    ) -> int:
        with self.db.engine.begin() as conn:
            res = conn.execute(
                insert(announcements).values(
                    owner=owner,
                    case_id=case_id,
                    severity=severity if severity in _SEVERITY_RANK else "warning",
                    title=title[:500],
                    ask_rollback=ask_rollback,
                    sentences=json.dumps(sentences, ensure_ascii=False),
                    created_at=datetime.now(UTC),
                )
            )
            key = res.inserted_primary_key
            assert key is not None
            return int(key[0])

    def _delivered(self, ids: list[int], device_id: str, via: str) -> None:
        if not ids:
            return
        with self.db.engine.begin() as conn:
            conn.execute(
                update(announcements)
                .where(and_(announcements.c.id.in_(ids), announcements.c.delivered_at.is_(None)))
                .values(delivered_at=datetime.now(UTC), delivered_device=device_id[:128], delivered_voice=via)
            )

    def pending(self, owner: str | None = None) -> list[Announcement]:
        q = select(announcements).where(announcements.c.delivered_at.is_(None)).order_by(announcements.c.id)
        if owner is not None:
            q = q.where(announcements.c.owner == owner)
        with self.db.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            Announcement(
                r["id"],
                r["owner"],
                r["case_id"],
                bool(r["ask_rollback"]),
                json.loads(r["sentences"]),
                r["severity"],
                r["title"],
            )
            for r in rows
        ]

    def delivery_record(self, announcement_id: int) -> dict[str, Any] | None:
        """Who heard it, where and when (None while it is queued)."""
        with self.db.engine.connect() as conn:
            r = conn.execute(select(announcements).where(announcements.c.id == announcement_id)).first()
        if r is None or r.delivered_at is None:
            return None
        return {"device": r.delivered_device, "voice": r.delivered_voice, "at": r.delivered_at}

    # ---- queued announcements: after the owner's own turn, or at the wake of their bound device

    async def _on_turn(self, text: str, ctx: TurnContext) -> Reply | None:
        """Turn hook (never answers): after this turn's reply, the identified owner hears their backlog."""
        if ctx.guest or ctx.device is None or self.services is None:
            return None
        device_id = ctx.device.info.device_id
        session = self.services.sessions.get(device_id)
        if session is None or device_id in self._after_turn:
            return None
        owner = ctx.owner
        self._after_turn.add(device_id)  # no database work here: the turn goes on at once
        self._spawn(self._deliver_after_turn(session, owner, asyncio.current_task()))
        return None

    async def _deliver_after_turn(
        self, session: DialogueSession, owner: str, turn: asyncio.Task[Any] | None
    ) -> None:
        try:
            if turn is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.shield(turn)
            if session.memory.expecting():
                return  # the dialogue asked a question (challenge, confirmation): don't talk over it
            if not await asyncio.to_thread(self.pending, owner):
                return
            via = self.listener(session, owner) or (f"voice:{owner}" if session.owner == owner else None)
            if via is not None:
                await self._deliver(session, owner, via)
        finally:
            self._after_turn.discard(session.info.device_id)

    def _on_device(self, event: str, channel: Any) -> None:
        if event != "online":
            return
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop()
            self._spawn(self._deliver_on_wake(channel.info.device_id))

    async def _deliver_on_wake(self, device_id: str) -> None:
        """A device bound to an owner (or any device in single-user mode) hears that owner's backlog at wake,
        unless the user starts talking first: then it comes after their question is answered."""
        if self.services is None:
            return
        owner = self.device_owner(device_id)
        if owner is None or not await asyncio.to_thread(self.pending, owner):
            return  # an unknown listener: wait until a voice is identified
        for _ in range(100):  # the session registers itself right after the hello
            session = self.services.sessions.get(device_id)
            if session is not None and session.channel is not None:
                break
            await asyncio.sleep(0.05)
        else:
            return
        try:
            await session.channel.wait_ready(15.0)  # type: ignore[attr-defined]
        except TimeoutError:
            return
        await asyncio.sleep(WAKE_GRACE_S)
        if session.turn_task is not None or session.channel is None:
            return  # the user spoke first: the turn hook delivers after the answer
        via = self.listener(session, owner)
        if via is not None:
            await self._deliver(session, owner, via)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def on_recovered(self, case: Any, group: Any) -> None:
        log.info("case %s: its alert recovered", case.id)
