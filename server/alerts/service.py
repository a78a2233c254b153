"""AlertService: intake → dedup/aggregate → store → a case for every new firing group.

Durable intake: webhook handlers ``await accept(...)``, which returns only after the notification is committed
(SQLite WAL with ``synchronous=FULL``: fsync'd by the database) — so a 200 always means "stored". Concurrent requests
are group-committed: one worker drains the queue in batches and writes each batch in one transaction in a thread,
so a burst costs a handful of fsyncs, not one each. Dedup lives in the database (``webhook_receipts`` primary key on
the sessionId, the partial unique index on firing fingerprints); nothing is remembered in memory, so a notification
whose commit failed (disk full, database locked) is *not* a duplicate when the sender retries it.
After the commit, ``on_new_case(case, alert)`` fires for each new group (the app wires it to tracing + delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.exc import OperationalError

from server.alerts.aggregate import DEFAULT_THRESHOLD, DEFAULT_WINDOW_S, Aggregator, Outcome
from server.alerts.models import Alert
from server.alerts.store import AlertRecord, AlertStore, GroupRecord
from server.cases.fsm import State
from server.cases.service import CaseService
from server.cases.store import Case, CaseError
from server.storage.db import Database

log = logging.getLogger(__name__)

NewCaseHook = Callable[[Case, Alert], Awaitable[None] | None]
RecoveredHook = Callable[[Case, GroupRecord], Awaitable[None] | None]
OwnerResolver = Callable[[Alert], str]
SubmitStatus = Literal["accepted", "duplicate", "busy"]
ItemStatus = Literal["accepted", "duplicate", "failed"]


class IntakeUnavailable(Exception):
    """The notification could not be committed (disk full, database unavailable): answer 503 so the sender retries."""


_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(slots=True)
class _Item:
    alerts: list[Alert]
    session_id: str | None
    source: str
    received: float
    done: asyncio.Future[ItemStatus] | None = None  # resolved once the item is committed (or failed)
    status: ItemStatus = "failed"
    error: str = ""


@dataclass
class IngestReport:
    received: int = 0
    duplicates: int = 0  # notifications skipped because their sessionId was already processed
    new_alerts: int = 0
    repeats: int = 0
    resolved: int = 0
    orphan_resolved: int = 0
    new_groups: int = 0
    new_cases: list[int] = field(default_factory=list)
    errors: int = 0


class AlertService:
    def __init__(
        self,
        db: Database,
        cases: CaseService,
        *,
        owner_resolver: OwnerResolver | None = None,
        default_owner: str = "default",
        on_new_case: NewCaseHook | None = None,
        on_recovered: RecoveredHook | None = None,
        on_new_child: NewCaseHook | None = None,
        window_s: float = DEFAULT_WINDOW_S,
        storm_threshold: int = DEFAULT_THRESHOLD,
        queue_size: int = 20000,
        batch_max: int = 500,
    ) -> None:
        self.store = AlertStore(db)
        self.cases = cases
        self.owner_resolver = owner_resolver
        self.default_owner = default_owner
        self.on_new_case = on_new_case
        self.on_recovered = on_recovered
        # a new, different alert joined an open group that already has a case (another pod, another error):
        # delivery re-traces it, and speaks it when the cause differs from the one already spoken
        self.on_new_child = on_new_child
        self.aggregator = Aggregator(window_s=window_s, threshold=storm_threshold)
        self.batch_max = batch_max
        self._queue_size = queue_size
        self._queue: asyncio.Queue[_Item] | None = None
        self._accepting = False
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hook_tasks: set[asyncio.Task[Any]] = set()
        self._loaded = False
        self.totals = IngestReport()
        self._lock = threading.RLock()

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._worker is not None and not self._worker.done():
            return
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(self._queue_size)
        await asyncio.to_thread(self._load)
        self._worker = self._loop.create_task(self._run(), name="alert-intake")
        self._accepting = True

    def stop_accepting(self) -> None:
        """Shutdown, first step: new notifications get 503 (the sender retries); queued ones still commit."""
        self._accepting = False

    async def stop(self) -> None:
        """Stop accepting, commit and answer what is queued, then stop."""
        self._accepting = False
        if self._worker is None:
            return
        await self.drain()
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None
        if self._hook_tasks:
            await asyncio.gather(*self._hook_tasks, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until everything submitted so far is stored and its hooks have run (tests, bench, shutdown)."""
        if self._queue is not None:
            await self._queue.join()
        await asyncio.sleep(0)  # let hook callbacks scheduled by the worker thread create their tasks
        if self._hook_tasks:
            await asyncio.gather(*list(self._hook_tasks), return_exceptions=True)

    # -- intake -------------------------------------------------------------------------------------

    async def accept(
        self, alerts: list[Alert], *, source: str, session_id: str | None = None
    ) -> SubmitStatus:
        """Store one webhook notification; returns after it is committed ("accepted"), or after the database
        confirmed its sessionId was stored before ("duplicate"). "busy": the queue is full or the service is
        shutting down. Raises IntakeUnavailable when the commit failed (the caller answers 503)."""
        if self._queue is None or self._loop is None:
            raise RuntimeError("AlertService.start() was not awaited")
        if not self._accepting:
            return "busy"
        item = _Item(alerts, session_id, source, time.time(), done=self._loop.create_future())
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            return "busy"  # the sender retries (Tencent up to 3 times); nothing is half-accepted
        assert item.done is not None
        status = await asyncio.shield(item.done)  # a client that hangs up does not cancel the commit
        if status == "failed":
            raise IntakeUnavailable(item.error or "the alert could not be stored")
        return status

    def ingest(self, items: list[tuple[list[Alert], str, str | None]]) -> IngestReport:
        """Synchronous path (tests, tools): process ``(alerts, source, session_id)`` notifications now."""
        self._ensure_loaded()
        now = time.time()
        return self._process([_Item(a, sid, src, now) for a, src, sid in items])

    # -- reads --------------------------------------------------------------------------------------

    def list_alerts(
        self,
        *,
        owner: str | None = None,
        account: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[AlertRecord]:
        return self.store.list_alerts(owner=owner, account=account, status=status, limit=limit)

    def list_groups(
        self, *, owner: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[GroupRecord]:
        return self.store.list_groups(owner=owner, status=status, limit=limit)

    def get_group(self, group_id: str) -> GroupRecord | None:
        return self.store.get_group(group_id)

    def group_children(self, group_id: str, limit: int = 1000) -> list[AlertRecord]:
        return self.store.list_alerts(group_id=group_id, limit=limit)

    def is_case_recovered(self, case_id: int) -> bool | None:
        """True when the case's alert group has resolved; None if the case has no alert group."""
        group = self.store.group_for_case(case_id)
        return None if group is None else group.status == "resolved"

    # -- worker -------------------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await asyncio.to_thread(self._process, batch)
            except Exception as exc:
                log.error("alert batch of %d notifications not stored: %s", len(batch), _short(exc))
                for item in batch:
                    item.status, item.error = "failed", _short(exc)
            finally:
                for item in batch:
                    if item.done is not None and not item.done.done():
                        item.done.set_result(item.status)
                    self._queue.task_done()

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._load()

    def _load(self) -> None:
        firing, groups = self.store.open_state()
        self.aggregator.load(firing, groups)
        self._loaded = True

    def _owner(self, alert: Alert) -> str:
        if self.owner_resolver is not None:
            try:
                return self.owner_resolver(alert) or self.default_owner
            except Exception:
                log.exception("owner resolver failed; using default owner")
        return self.default_owner

    def _process(self, items: list[_Item]) -> IngestReport:
        with self._lock:  # the worker and a direct ``ingest`` call must not interleave on the aggregator
            try:
                self._ensure_loaded()
            except Exception as exc:
                for item in items:
                    item.status, item.error = "failed", _short(exc)
                raise
            return self._process_locked(items)

    def _process_locked(self, items: list[_Item]) -> IngestReport:
        try:
            return self._process_batch(items)
        except OperationalError as exc:
            # the database itself failed (disk full, unavailable, locked too long): every item fails alike,
            # nothing was committed, and the senders retry on the 503
            for item in items:
                item.status, item.error = "failed", _short(exc)
            log.error(
                "alert intake: database unavailable, %d notifications refused: %s", len(items), _short(exc)
            )
            raise
        except Exception:
            if len(items) == 1:
                raise
            # one bad notification must not sink the batch: resync state and retry them one by one
            log.exception("alert batch write failed; retrying %d notifications individually", len(items))
            report = IngestReport()
            for item in items:
                self._load()
                try:
                    one = self._process_batch([item])
                except Exception as exc:
                    log.exception("alert notification (session %s) could not be stored", item.session_id)
                    item.status, item.error = "failed", _short(exc)
                    report.errors += 1
                    continue
                _merge(report, one)
            return report

    def _process_batch(self, items: list[_Item]) -> IngestReport:
        report = IngestReport()
        writes = _BatchWrites()
        try:
            with self.store.db.engine.begin() as conn:
                sids = [i.session_id for i in items if i.session_id]
                seen = self.store.known_sessions(conn, sids)
                for item in items:
                    report.received += 1
                    item.status = "accepted"
                    if item.session_id:
                        if item.session_id in seen:
                            report.duplicates += 1
                            item.status = "duplicate"
                            continue
                        seen.add(item.session_id)
                        writes.receipts.append(
                            {
                                "session_id": item.session_id,
                                "source": item.source,
                                "received_at": _dt(item.received),
                                "alerts": len(item.alerts),
                            }
                        )
                    for alert in item.alerts:
                        outcome = self.aggregator.apply(alert, item.received)
                        self._record(outcome, alert, item, writes, report)
                self.store.insert_receipts(conn, writes.receipts)
                self.store.insert_groups(
                    conn, [g for g in writes.group_rows.values() if g.pop("_new", False)]
                )
                self.store.insert_alerts(conn, list(writes.new_alerts.values()))
                self.store.update_alerts(conn, list(writes.alert_updates.values()))
                created = self._open_cases(conn, writes)
                self.store.update_groups(conn, [_group_update(g) for g in writes.group_rows.values()])
                for group_id in writes.storms:
                    case_id = writes.group_rows[group_id]["case_id"]
                    if case_id is not None:
                        g = writes.group_rows[group_id]
                        self.cases.store.add_note(
                            case_id,
                            actor="alerts",
                            text=f"告警风暴：{self.aggregator.window_s:.0f} 秒内超过 {self.aggregator.threshold} 条，已聚合",
                            detail={"group_id": group_id, "alert_count": g["alert_count"]},
                            conn=conn,
                        )
        except Exception:
            for item in items:
                item.status = "failed"
            try:
                self._load()  # memory ran ahead of the rolled-back transaction
            except Exception as exc:  # the database is down: reload on the next batch
                log.warning("alert intake state not reloaded: %s", _short(exc))
                self._loaded = False
            raise
        for group_id, row in writes.group_rows.items():
            state = self.aggregator.group(group_id)
            if state is not None:
                state.row = {k: v for k, v in row.items() if k != "_new"}
        self.aggregator.forget_resolved()
        report.new_cases = [c.id for c, _ in created]
        report.new_groups = len(created)
        _merge(self.totals, report, keep_ids=False)
        try:  # committed: whatever happens in the hooks, these notifications are stored
            self._after_commit(created, writes.resolved_groups, self._children(writes))
        except Exception:
            log.exception("alert hooks after commit failed; the cases resume at the next start")
        return report

    def _record(
        self, outcome: Outcome, alert: Alert, item: _Item, w: _BatchWrites, report: IngestReport
    ) -> None:
        now = _dt(item.received)
        if outcome.kind == "orphan_resolved":
            report.orphan_resolved += 1
            return
        assert outcome.alert_id is not None and outcome.group_id is not None
        group_row = w.group_rows.get(outcome.group_id)
        if group_row is None:
            group_row = self._group_row(outcome, alert, now)
            w.group_rows[outcome.group_id] = group_row
        state = self.aggregator.group(outcome.group_id)
        if state is not None:
            group_row["alert_count"] = state.alert_count
            group_row["child_count"] = state.child_count
            group_row["aggregated"] = state.aggregated
        group_row["last_seen"] = now
        if _SEVERITY_RANK[alert.severity] > _SEVERITY_RANK.get(group_row["severity"], 0):
            group_row["severity"] = alert.severity
        if outcome.storm_started:
            w.storms.append(outcome.group_id)
            group_row["title"] = (
                f"[聚合] {alert.group_resource}: {self.aggregator.window_s:.0f} 秒内超过 "
                f"{self.aggregator.threshold} 条告警"
            )
        if outcome.new_group:
            w.first_alert[outcome.group_id] = alert
        elif outcome.kind == "new_alert" and not group_row["aggregated"]:
            w.new_children.append((outcome.group_id, alert))  # a storm is summarised, not re-traced per alert

        if outcome.kind == "new_alert":
            report.new_alerts += 1
            w.new_alerts[outcome.alert_id] = self._alert_row(outcome, alert, item, group_row["owner"], now)
        elif outcome.kind == "repeat":
            report.repeats += 1
            self._touch(w, outcome.alert_id, status="firing", ends_at=None, last_seen=now)
        else:  # resolved
            report.resolved += 1
            self._touch(w, outcome.alert_id, status="resolved", ends_at=alert.ends_at or now, last_seen=now)
            if outcome.group_resolved:
                group_row["status"] = "resolved"
                group_row["resolved_at"] = alert.ends_at or now
                w.resolved_groups.append(outcome.group_id)

    def _touch(
        self, w: _BatchWrites, alert_id: str, *, status: str, ends_at: datetime | None, last_seen: datetime
    ) -> None:
        new = w.new_alerts.get(alert_id)
        if new is not None:  # inserted in this same batch: fold the change into the insert
            new["count"] += 1 if status == "firing" else 0
            new.update(status=status, ends_at=ends_at, last_seen=last_seen)
            return
        upd = w.alert_updates.get(alert_id)
        if upd is None:
            upd = w.alert_updates[alert_id] = {"b_id": alert_id, "b_delta": 0}
        upd["b_delta"] += 1 if status == "firing" else 0
        upd.update(b_status=status, b_ends_at=ends_at, b_last_seen=last_seen)

    def _group_row(self, outcome: Outcome, alert: Alert, now: datetime) -> dict[str, Any]:
        if outcome.new_group:
            return {
                "_new": True,
                "id": outcome.group_id,
                "group_key": alert.group_key,
                "status": "open",
                "owner": self._owner(alert),
                "account": alert.account,
                "title": alert.title[:500],
                "severity": alert.severity,
                "first_seen": now,
                "last_seen": now,
                "resolved_at": None,
                "alert_count": 0,
                "child_count": 0,
                "aggregated": False,
                "case_id": None,
            }
        state = self.aggregator.group(outcome.group_id or "")
        if state is None or not state.row:
            raise RuntimeError(f"alert group {outcome.group_id} is not in the intake state")
        return dict(state.row)

    @staticmethod
    def _alert_row(outcome: Outcome, alert: Alert, item: _Item, owner: str, now: datetime) -> dict[str, Any]:
        return {
            "id": outcome.alert_id,
            "fingerprint": alert.fingerprint,
            "source": alert.source,
            "status": "firing",
            "policy": alert.policy[:255],
            "severity": alert.severity,
            "title": alert.title[:500],
            "resource": alert.resource[:255],
            "group_key": alert.group_key[:255],
            "namespace": alert.namespace,
            "workload": alert.workload,
            "pod": alert.pod,
            "account": alert.account,
            "owner": owner,
            "session_id": item.session_id,
            "description": alert.description,
            "labels": json.dumps(alert.labels, ensure_ascii=False),
            "raw": json.dumps(alert.raw, ensure_ascii=False, default=str),
            "starts_at": alert.starts_at,
            "ends_at": None,
            "first_seen": now,
            "last_seen": now,
            "count": 1,
            "group_id": outcome.group_id,
        }

    def _open_cases(self, conn: Any, w: _BatchWrites) -> list[tuple[Case, Alert]]:
        created = []
        for group_id, alert in w.first_alert.items():
            g = w.group_rows[group_id]
            if g["status"] != "open":
                continue  # fired and resolved inside one batch: nothing left to act on
            case = self.cases.create_case(
                owner=g["owner"],
                title=g["title"] if g["aggregated"] else alert.title,
                account=alert.account,
                severity=g["severity"],
                resource=alert.group_resource,
                alert_id=w.first_alert_id(group_id),
                alert_group_id=group_id,
                actor=f"alerts:{alert.source}",
                conn=conn,
            )
            g["case_id"] = case.id
            created.append((case, alert))
        return created

    def _children(self, w: _BatchWrites) -> list[tuple[Case, Alert]]:
        out: list[tuple[Case, Alert]] = []
        if self.on_new_child is None:
            return out
        for group_id, alert in w.new_children:
            case_id = w.group_rows[group_id].get("case_id")
            case = self.cases.get_case(case_id) if case_id is not None else None
            if case is not None and case.status is not State.CLOSED:
                out.append((case, alert))
        return out

    def _after_commit(
        self,
        created: list[tuple[Case, Alert]],
        resolved_groups: list[str],
        children: Sequence[tuple[Case, Alert]] = (),
    ) -> None:
        for case, alert in created:
            self._fire(self.on_new_case, case, alert)
        for case, alert in children:
            self._fire(self.on_new_child, case, alert)
        for group_id in resolved_groups:
            group = self.store.get_group(group_id)
            if group is None or group.case_id is None:
                continue
            found = self.cases.get_case(group.case_id)
            if found is None:
                continue
            case = found
            try:
                if case.status is State.VERIFYING:
                    self.cases.verify(case.id, actor="alerts", recovered=True)
                elif case.status not in (State.CLOSED,):
                    self.cases.add_note(
                        case.id, actor="alerts", text="告警已恢复", detail={"group_id": group_id}
                    )
            except CaseError as exc:
                log.warning("recording recovery on case %s failed: %s", case.id, exc)
            case = self.cases.get_case(case.id) or case
            self._fire(self.on_recovered, case, group)

    def _fire(self, hook: Callable[..., Any] | None, *args: Any) -> None:
        if hook is None:
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            try:
                result = hook(*args)
                if inspect.isawaitable(result):
                    log.warning("async hook %r called without a running service loop; not awaited", hook)
                    result.close()  # type: ignore[attr-defined]
            except Exception:
                log.exception("alert hook %r failed", hook)
            return
        loop.call_soon_threadsafe(self._schedule_hook, hook, args)

    def _schedule_hook(self, hook: Callable[..., Any], args: tuple[Any, ...]) -> None:
        async def run() -> None:
            try:
                result = hook(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("alert hook %r failed", hook)

        task = asyncio.get_running_loop().create_task(run())
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)


@dataclass
class _BatchWrites:
    receipts: list[dict[str, Any]] = field(default_factory=list)
    new_alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    alert_updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    group_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    first_alert: dict[str, Alert] = field(default_factory=dict)
    new_children: list[tuple[str, Alert]] = field(
        default_factory=list
    )  # (group id, alert) joining open groups
    storms: list[str] = field(default_factory=list)
    resolved_groups: list[str] = field(default_factory=list)

    def first_alert_id(self, group_id: str) -> str | None:
        for aid, row in self.new_alerts.items():
            if row["group_id"] == group_id:
                return aid
        return None


def _group_update(g: dict[str, Any]) -> dict[str, Any]:
    return {
        "b_id": g["id"],
        "b_status": g["status"],
        "b_title": g["title"],
        "b_severity": g["severity"],
        "b_last_seen": g["last_seen"],
        "b_resolved_at": g["resolved_at"],
        "b_alert_count": g["alert_count"],
        "b_child_count": g["child_count"],
        "b_aggregated": g["aggregated"],
        "b_case_id": g["case_id"],
    }


def _short(exc: BaseException) -> str:
    """One line for logs and 503 bodies: the driver's message without SQL or parameters."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _merge(into: IngestReport, other: IngestReport, *, keep_ids: bool = True) -> None:
    for name in (
        "received",
        "duplicates",
        "new_alerts",
        "repeats",
        "resolved",
        "orphan_resolved",
        "new_groups",
        "errors",
    ):
        setattr(into, name, getattr(into, name) + getattr(other, name))
    if keep_ids:
        into.new_cases.extend(other.new_cases)
