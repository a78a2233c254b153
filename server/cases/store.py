"""Case persistence and the ONE state-changing entry point, ``CaseStore.transition``.

In one transaction it checks the optimistic version, asks ``fsm.decide``, writes the new state, a timeline entry,
the outbox messages and the idempotency record. Portable SQL (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, overload

from sqlalchemy import (
    Column,
    Connection,
    CursorResult,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from server.cases.fsm import AI_ACTORS, MSG_EXECUTE, Event, GuardContext, Risk, State, decide
from server.cases.plans import Plan, PlanError, PlanPolicy, validate_plan
from server.storage.db import Database, fit_text, metadata

log = logging.getLogger(__name__)

MSG_CREATED = "case.created"

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("owner", String(128), nullable=False),
    Column("account", String(64)),
    Column("title", String(500), nullable=False),
    Column("severity", String(16), nullable=False, default="warning"),
    Column("resource", String(255), nullable=False, default=""),
    Column("alert_id", String(32)),
    Column("alert_group_id", String(32)),
    Column("plan", Text),
    Column("plan_risk", String(8)),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_cases_owner_status", "owner", "status"),
)

case_timeline = Table(
    "case_timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # an EntryKind
    Column("event", String(32), nullable=False, default=""),
    Column("from_state", String(16)),
    Column("to_state", String(16)),
    Column("detail", Text, nullable=False, default="{}"),
    Index("ix_case_timeline_case", "case_id", "id"),
)

case_outbox = Table(
    "case_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("msg_type", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("available_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_until", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Index("ix_case_outbox_due", "delivered_at", "available_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("case_id", Integer, nullable=False),
    Column("event", String(32), nullable=False),
    Column("result", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

KEY_LEN = 200  # the size of idempotency_keys.key

outbox_consumed = Table(
    "outbox_consumed",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("message_id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)


# ----------------------------------------------------------------------------------------------- errors


class CaseError(Exception):
    status = 400


class CaseNotFound(CaseError):
    status = 404


class ConflictError(CaseError):
    """The caller's expected version is stale."""

    status = 409


class IllegalTransition(CaseError):
    """The FSM has no such edge from the current state."""

    status = 409


class GuardRejected(IllegalTransition):
    """The edge exists but a guard refused it (plan invalid, approver without rights, no challenge...)."""

    status = 403


class IdempotencyKeyReused(CaseError):
    status = 422


# ----------------------------------------------------------------------------------------------- records


class EntryKind(StrEnum):
    """What a timeline entry records."""

    CREATED = "created"
    TRANSITION = "transition"
    REFUSED = "refused"  # a guard refused the event; the state did not change
    NOTE = "note"  # no state change (alert recovered, escalation rung, tracer's cause...)


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    status: State
    version: int
    owner: str
    account: str | None
    title: str
    severity: str
    resource: str
    alert_id: str | None
    alert_group_id: str | None
    plan: Plan | None
    plan_risk: str | None
    reason: str
    created_at: datetime
    updated_at: datetime
    plan_error: str = ""  # why the stored plan could not be read back (then ``plan`` is None)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "status": str(self.status),
            "version": self.version,
            "owner": self.owner,
            "account": self.account,
            "title": self.title,
            "severity": self.severity,
            "resource": self.resource,
            "alert_id": self.alert_id,
            "alert_group_id": self.alert_group_id,
            "plan": self.plan.to_dict() if self.plan else None,
            "plan_risk": self.plan_risk,
            "plan_error": self.plan_error,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    id: int
    case_id: int
    at: datetime
    actor: str
    kind: EntryKind
    event: str
    from_state: str | None
    to_state: str | None
    detail: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "kind": self.kind.value,
            "event": self.event,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class TransitionResult:
    case_id: int
    event: str
    from_state: State
    to_state: State
    version: int
    timeline_id: int
    outbox_ids: tuple[int, ...]
    replayed: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "case_id": self.case_id,
            "event": self.event,
            "from_state": str(self.from_state),
            "to_state": str(self.to_state),
            "version": self.version,
            "timeline_id": self.timeline_id,
            "outbox_ids": list(self.outbox_ids),
            "replayed": self.replayed,
        }


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    case_id: int
    msg_type: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class ApproverRights:
    can_approve: bool
    max_risk: Risk | None


class ApproverDirectory(Protocol):
    def rights(self, approver: str) -> ApproverRights | None: ...


@dataclass
class StaticApprovers:
    """approver identity -> highest plan risk they may approve. Anyone not listed has no rights."""

    max_risk: dict[str, Risk] = field(default_factory=dict)

    def rights(self, approver: str) -> ApproverRights | None:
        risk = self.max_risk.get(approver)
        return ApproverRights(True, Risk(risk)) if risk else None


# ----------------------------------------------------------------------------------------------- store


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(dt: datetime) -> datetime: ...
@overload
def as_utc(dt: datetime | None) -> datetime | None: ...
def as_utc(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _stored_plan(case_id: int, text: str | None) -> tuple[Plan | None, str]:
    """The case's stored plan, typed; an unreadable one is (None, why), logged, never an exception for a read."""
    if not text:
        return None, ""
    try:
        return Plan.from_json(text), ""
    except PlanError as exc:
        log.warning("case %s: stored plan cannot be read: %s", case_id, exc)
        return None, f"stored plan cannot be read: {exc}"


def _row_to_case(row: Any) -> Case:
    plan, plan_error = _stored_plan(row.id, row.plan)
    return Case(
        id=row.id,
        status=State(row.status),
        version=row.version,
        owner=row.owner,
        account=row.account,
        title=row.title,
        severity=row.severity,
        resource=row.resource,
        alert_id=row.alert_id,
        alert_group_id=row.alert_group_id,
        plan=plan,
        plan_risk=row.plan_risk,
        reason=row.reason or "",
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        plan_error=plan_error,
    )


def _replayed(result_json: str) -> TransitionResult:
    stored = json.loads(result_json)
    return TransitionResult(
        case_id=stored["case_id"],
        event=stored["event"],
        from_state=State(stored["from_state"]),
        to_state=State(stored["to_state"]),
        version=stored["version"],
        timeline_id=stored["timeline_id"],
        outbox_ids=tuple(stored["outbox_ids"]),
        replayed=True,
    )


def _inserted_id(result: CursorResult[Any]) -> int:
    """The primary key a single-row INSERT generated."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _write_timeline(
    conn: Connection,
    *,
    case_id: int,
    at: datetime,
    actor: str,
    kind: EntryKind,
    event: str = "",
    from_state: State | None = None,
    to_state: State | None = None,
    detail: Mapping[str, object] | None = None,
) -> int:
    row = insert(case_timeline).values(
        case_id=case_id,
        at=at,
        actor=actor,
        kind=kind.value,
        event=event,
        from_state=from_state.value if from_state else None,
        to_state=to_state.value if to_state else None,
        detail=json.dumps(dict(detail or {}), ensure_ascii=False, default=str),
    )
    return _inserted_id(conn.execute(row))


def _write_outbox(
    conn: Connection, case_id: int, msg_type: str, payload: Mapping[str, object], now: datetime
) -> int:
    return _inserted_id(
        conn.execute(
            insert(case_outbox).values(
                case_id=case_id,
                msg_type=msg_type,
                payload=json.dumps(dict(payload), ensure_ascii=False, default=str),
                created_at=now,
                available_at=now,
                attempts=0,
            )
        )
    )


class CaseStore:
    def __init__(
        self,
        db: Database,
        *,
        approvers: ApproverDirectory | None = None,
        plan_policy: PlanPolicy | None = None,
    ) -> None:
        self.db = db
        self.approvers: ApproverDirectory = approvers or StaticApprovers()
        self.plan_policy = plan_policy or PlanPolicy()

    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.db.engine.begin() as own:
                yield own

    # -- creation and reads -------------------------------------------------------------------------

    def create_case(
        self,
        *,
        owner: str,
        title: str,
        actor: str = "system",
        account: str | None = None,
        severity: str = "warning",
        resource: str = "",
        alert_id: str | None = None,
        alert_group_id: str | None = None,
        conn: Connection | None = None,
    ) -> Case:
        now = utcnow()
        with self._tx(conn) as c:
            case_id = _inserted_id(
                c.execute(
                    insert(cases).values(
                        status=State.NEW.value,
                        version=1,
                        owner=owner,
                        account=account,
                        title=title[:500],
                        severity=severity,
                        resource=resource[:255],
                        alert_id=alert_id,
                        alert_group_id=alert_group_id,
                        reason="",
                        created_at=now,
                        updated_at=now,
                    )
                )
            )
            _write_timeline(
                c,
                case_id=case_id,
                at=now,
                actor=actor,
                kind=EntryKind.CREATED,
                to_state=State.NEW,
                detail={"title": title, "alert_id": alert_id, "alert_group_id": alert_group_id},
            )
            _write_outbox(c, case_id, MSG_CREATED, {"case_id": case_id, "owner": owner, "title": title}, now)
            row = c.execute(select(cases).where(cases.c.id == case_id)).one()
        return _row_to_case(row)

    def get_case(self, case_id: int, conn: Connection | None = None) -> Case | None:
        with self._tx(conn) as c:
            row = c.execute(select(cases).where(cases.c.id == case_id)).first()
        return _row_to_case(row) if row else None

    def list_cases(
        self, *, owner: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Case]:
        q = select(cases).order_by(cases.c.id.desc()).limit(max(1, min(limit, 1000)))
        if owner:
            q = q.where(cases.c.owner == owner)
        if status:
            q = q.where(cases.c.status == status)
        with self.db.engine.connect() as c:
            return [_row_to_case(r) for r in c.execute(q)]

    def open_cases(self, limit: int = 1000) -> list[Case]:
        """Cases not yet closed or parked, oldest first (what an escalation sweep looks at)."""
        q = (
            select(cases)
            .where(cases.c.status.notin_([State.CLOSED.value, State.PARKED.value]))
            .order_by(cases.c.id)
            .limit(limit)
        )
        with self.db.engine.connect() as c:
            return [_row_to_case(r) for r in c.execute(q)]

    def enqueue(
        self, case_id: int, msg_type: str, payload: Mapping[str, object], *, conn: Connection | None = None
    ) -> int:
        """Queue an outbox message for a case outside a transition (an escalation rung, a re-announcement)."""
        with self._tx(conn) as c:
            return int(_write_outbox(c, case_id, msg_type, payload, utcnow()))

    def timeline(self, case_id: int) -> list[TimelineEntry]:
        q = select(case_timeline).where(case_timeline.c.case_id == case_id).order_by(case_timeline.c.id)
        with self.db.engine.connect() as c:
            return [
                TimelineEntry(
                    id=r.id,
                    case_id=r.case_id,
                    at=as_utc(r.at),
                    actor=r.actor,
                    kind=EntryKind(r.kind),
                    event=r.event,
                    from_state=r.from_state,
                    to_state=r.to_state,
                    detail=json.loads(r.detail or "{}"),
                )
                for r in c.execute(q)
            ]

    def add_note(
        self,
        case_id: int,
        *,
        actor: str,
        text: str,
        detail: Mapping[str, object] | None = None,
        conn: Connection | None = None,
    ) -> int:
        """A timeline entry that changes no state (e.g. 'alert recovered', 'alert storm: 25 alerts in 60 s')."""
        with self._tx(conn) as c:
            if c.execute(select(cases.c.id).where(cases.c.id == case_id)).first() is None:
                raise CaseNotFound(f"case {case_id} not found")
            return _write_timeline(
                c,
                case_id=case_id,
                at=utcnow(),
                actor=actor,
                kind=EntryKind.NOTE,
                detail={"text": text, **(detail or {})},
            )

    # -- the one state-changing entry point ---------------------------------------------------------

    def transition(
        self,
        case_id: int,
        event: Event | str,
        expected_version: int | None,
        actor: str,
        idempotency_key: str | None = None,
        payload: Mapping[str, object] | None = None,
    ) -> TransitionResult:
        """Apply ``event`` to the case atomically.

        ``expected_version=None`` skips the optimistic check (internal system actors only; the REST API requires it).
        Raises CaseNotFound, ConflictError, IllegalTransition, GuardRejected, IdempotencyKeyReused.
        """
        fields = dict(payload or {})
        if idempotency_key:  # PostgreSQL refuses a key longer than the column (e.g. a 200-char key + "#r1")
            idempotency_key = fit_text(idempotency_key, KEY_LEN)
        for attempt in (1, 2):
            try:
                with self.db.engine.begin() as conn:
                    outcome = self._transition(
                        conn, case_id, event, expected_version, actor, idempotency_key, fields
                    )
            except IntegrityError:
                # a concurrent request with the same Idempotency-Key won the insert; the retry replays its result
                if idempotency_key and attempt == 1:
                    continue
                raise
            except ConflictError:
                # the same Idempotency-Key may have won while we waited for the row: the retry replays its result
                if idempotency_key and attempt == 1:
                    continue
                raise
            except OperationalError as exc:
                if "locked" in str(exc).lower():  # SQLite: another writer held the lock past busy_timeout
                    raise ConflictError(f"case {case_id} is being changed by another request; retry") from exc
                raise
            if isinstance(outcome, GuardRejected):
                raise outcome  # its 'refused' audit entry is committed
            return outcome
        raise AssertionError("unreachable")

    def _transition(
        self,
        conn: Connection,
        case_id: int,
        event: Event | str,
        expected_version: int | None,
        actor: str,
        idempotency_key: str | None,
        payload: Mapping[str, object],
    ) -> TransitionResult | GuardRejected:
        event_name = str(event.value if isinstance(event, Event) else event)
        if idempotency_key:
            prior = conn.execute(
                select(idempotency_keys).where(idempotency_keys.c.key == idempotency_key)
            ).first()
            if prior is not None:
                if prior.case_id != case_id or prior.event != event_name:
                    raise IdempotencyKeyReused(
                        f"Idempotency-Key already used for case {prior.case_id} event '{prior.event}'"
                    )
                return _replayed(prior.result)

        row = conn.execute(select(cases).where(cases.c.id == case_id).with_for_update()).first()
        if row is None:
            raise CaseNotFound(f"case {case_id} not found")
        if expected_version is not None and row.version != expected_version:
            raise ConflictError(f"case {case_id} is at version {row.version}, not {expected_version}")
        state = State(row.status)

        ctx, plan = self._guard_context(row, event_name, actor, payload)
        decision = decide(state, event_name, ctx)
        now = utcnow()
        if not decision.ok:
            if decision.kind == "guard":
                _write_timeline(
                    conn,
                    case_id=case_id,
                    at=now,
                    actor=actor,
                    kind=EntryKind.REFUSED,
                    event=event_name,
                    from_state=state,
                    to_state=state,
                    detail={"error": decision.error},
                )
                return GuardRejected(decision.error)
            raise IllegalTransition(decision.error)
        assert decision.next_state is not None

        new_version = row.version + 1
        values: dict[str, object] = {
            "status": decision.next_state.value,
            "version": new_version,
            "updated_at": now,
        }
        if plan is not None and event_name == Event.PLAN_PROPOSED.value:
            values["plan"] = plan.to_json()
            values["plan_risk"] = plan.risk.value
        if ctx.reason:
            values["reason"] = ctx.reason[:2000]
        changed = conn.execute(
            update(cases).where(and_(cases.c.id == case_id, cases.c.version == row.version)).values(**values)
        ).rowcount
        if changed != 1:  # lost a race on a database without row locks
            raise ConflictError(f"case {case_id} changed concurrently")

        detail = {k: v for k, v in payload.items() if k not in ("plan",)}
        if plan is not None:
            detail["plan_summary"] = plan.summary
            detail["plan_risk"] = plan.risk.value
        timeline_id = _write_timeline(
            conn,
            case_id=case_id,
            at=now,
            actor=actor,
            kind=EntryKind.TRANSITION,
            event=event_name,
            from_state=state,
            to_state=decision.next_state,
            detail=detail,
        )
        message: dict[str, object] = {
            "case_id": case_id,
            "event": event_name,
            "from_state": state.value,
            "to_state": decision.next_state.value,
            "version": new_version,
            "actor": actor,
            "owner": row.owner,
            "reason": ctx.reason,
        }
        outbox_ids = []
        for msg_type in decision.messages:
            body = dict(message)
            if msg_type == MSG_EXECUTE:
                body["plan"] = plan.to_dict() if plan is not None else None
                body["execution_key"] = f"case-{case_id}-v{new_version}"
            outbox_ids.append(_write_outbox(conn, case_id, msg_type, body, now))

        result = TransitionResult(
            case_id=case_id,
            event=event_name,
            from_state=state,
            to_state=decision.next_state,
            version=new_version,
            timeline_id=timeline_id,
            outbox_ids=tuple(outbox_ids),
        )
        if idempotency_key:
            conn.execute(
                insert(idempotency_keys).values(
                    key=idempotency_key,
                    case_id=case_id,
                    event=event_name,
                    result=json.dumps(result.to_dict()),
                    created_at=now,
                )
            )
        return result

    def _guard_context(
        self, row: Any, event: str, actor: str, payload: Mapping[str, object]
    ) -> tuple[GuardContext, Plan | None]:
        reason = str(payload.get("reason") or "").strip()
        plan: Plan | None = None
        plan_error = ""
        raw_plan: object
        if event == Event.PLAN_PROPOSED.value:
            raw_plan = payload.get("plan")
            proposer = payload.get("proposed_by")
        else:
            raw_plan = row.plan or None  # the stored JSON text, checked against the current whitelist
            proposer = None
        if proposer is not None and not isinstance(proposer, str):
            plan_error = "proposed_by must be a string"
        elif raw_plan is not None:
            try:
                plan = validate_plan(raw_plan, self.plan_policy, proposed_by=proposer)
            except PlanError as exc:
                plan_error = str(exc)
        if event != Event.APPROVE.value:
            return GuardContext(plan_valid=plan is not None, plan_error=plan_error, reason=reason), plan

        approver = actor.strip()
        is_ai = approver.lower() in AI_ACTORS or approver.lower().startswith(("llm", "ai:"))
        rights = self.approvers.rights(approver) if approver and not is_ai else None
        ctx = GuardContext(
            plan_valid=plan is not None,
            plan_error=plan_error,
            plan_risk=plan.risk if plan else None,
            approver=approver,
            approver_is_ai=is_ai,
            approver_can_approve=bool(rights and rights.can_approve),
            approver_max_risk=rights.max_risk if rights else None,
            challenge_passed=payload.get("challenge_passed") is True,
            reason=reason,
        )
        return ctx, plan

    def reopen_count(self, case_id: int) -> int:
        """How many times the case was reopened (approval keys are scoped to the reopen round)."""
        q = select(func.count()).where(
            and_(case_timeline.c.case_id == case_id, case_timeline.c.event == Event.REOPEN.value)
        )
        q = q.where(case_timeline.c.kind == EntryKind.TRANSITION.value)
        with self.db.engine.connect() as c:
            return int(c.execute(q).scalar_one())

    def stored_result(self, idempotency_key: str) -> TransitionResult | None:
        """The result a key produced, if any (marked ``replayed``)."""
        key = fit_text(idempotency_key, KEY_LEN)
        q = select(idempotency_keys.c.result).where(idempotency_keys.c.key == key)
        with self.db.engine.connect() as c:
            row = c.execute(q).first()
        return _replayed(row.result) if row else None

    # -- outbox -------------------------------------------------------------------------------------

    def claim_due(self, *, limit: int = 50, lease_s: float = 30.0) -> list[OutboxMessage]:
        """Claim undelivered, due messages with a lease so a second dispatcher (other instance) skips them."""
        now = utcnow()
        free = or_(case_outbox.c.claimed_until.is_(None), case_outbox.c.claimed_until < now)
        q = (
            select(case_outbox)
            .where(and_(case_outbox.c.delivered_at.is_(None), case_outbox.c.available_at <= now, free))
            .order_by(case_outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL: rows another dispatcher is claiming are skipped
        )
        claimed = []
        with self.db.engine.begin() as c:
            for r in c.execute(q).all():
                got = c.execute(
                    update(case_outbox)
                    .where(and_(case_outbox.c.id == r.id, case_outbox.c.delivered_at.is_(None), free))
                    .values(claimed_until=now + timedelta(seconds=lease_s))
                ).rowcount
                if got == 1:
                    claimed.append(
                        OutboxMessage(r.id, r.case_id, r.msg_type, json.loads(r.payload), r.attempts)
                    )
        return claimed

    def mark_delivered(self, message_id: int) -> None:
        with self.db.engine.begin() as c:
            c.execute(
                update(case_outbox)
                .where(case_outbox.c.id == message_id)
                .values(delivered_at=utcnow(), claimed_until=None, last_error=None)
            )

    def mark_failed(self, message_id: int, error: str, retry_in_s: float) -> None:
        with self.db.engine.begin() as c:
            c.execute(
                update(case_outbox)
                .where(case_outbox.c.id == message_id)
                .values(
                    attempts=case_outbox.c.attempts + 1,
                    available_at=utcnow() + timedelta(seconds=retry_in_s),
                    claimed_until=None,
                    last_error=error[:2000],
                )
            )

    def outbox_messages(self, case_id: int | None = None) -> list[dict[str, object]]:
        q = select(case_outbox).order_by(case_outbox.c.id)
        if case_id is not None:
            q = q.where(case_outbox.c.case_id == case_id)
        with self.db.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def was_consumed(self, consumer: str, message_id: int) -> bool:
        q = select(outbox_consumed.c.message_id).where(
            and_(outbox_consumed.c.consumer == consumer, outbox_consumed.c.message_id == message_id)
        )
        with self.db.engine.connect() as c:
            return c.execute(q).first() is not None

    def record_consumed(self, consumer: str, message_id: int) -> bool:
        """True if this call recorded it, False if it was already recorded."""
        try:
            with self.db.engine.begin() as c:
                c.execute(
                    insert(outbox_consumed).values(consumer=consumer, message_id=message_id, at=utcnow())
                )
            return True
        except IntegrityError:
            return False
