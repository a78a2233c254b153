"""The escalation ladder: what happens when nobody acknowledges a case.

A policy (data, configurable per severity) lists rungs: after N minutes unacknowledged, push again to the owner's
robot, send on notification channels, or hand the case to the next owner with approval rights. A rung that becomes
due is *claimed* in the database (unique per case and rung) and queued on the case outbox in the same transaction;
the outbox's idempotent consumer performs it. So a restart in the middle of a ladder resumes where it was, and no
rung runs twice. Acknowledging ("收到") stops the ladder; snoozing ("十分钟后再提醒我") pauses it until then.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime, Integer, String, Table, UniqueConstraint, insert, select
from sqlalchemy.exc import IntegrityError

from server.cases.fsm import State
from server.cases.store import Case, CaseStore, OutboxMessage
from server.storage.db import Database, metadata, upsert

log = logging.getLogger(__name__)

MSG_ESCALATE = "case.escalate"
# an approved case is being handled by a person: nothing left to escalate
ACTED_ON = frozenset({State.EXECUTING, State.VERIFYING})


class RungAction(StrEnum):
    PUSH_AGAIN = "push_again"  # speak / notify on the owner's robot again
    CHANNELS = "channels"  # WeCom, Feishu, DingTalk, webhook, SMS, in the order configured
    NEXT_OWNER = "next_owner"  # the next owner with approval rights is told on their robot and channels


class Rung(BaseModel):
    after_min: float = Field(gt=0, le=7 * 24 * 60)
    action: RungAction
    channels: list[str] = Field(default_factory=list)  # empty: every channel of the owner (and shared ones)
    raise_to: str | None = None  # the severity the case is treated as from this rung on


class EscalationPolicy(BaseModel):
    """Rungs per severity, in ascending ``after_min``."""

    rungs: dict[str, list[Rung]]

    def for_severity(self, severity: str) -> list[Rung]:
        return sorted(self.rungs.get(severity, []), key=lambda r: r.after_min)

    @classmethod
    def from_json(cls, text: str) -> EscalationPolicy:
        """Parse the XOPS_ESCALATION_POLICY setting; empty means the default policy."""
        return cls.model_validate_json(text) if text.strip() else DEFAULT_POLICY


# The seed execution board's rule (a warning unacknowledged for 2 h becomes critical) as the default example.
DEFAULT_POLICY = EscalationPolicy(
    rungs={
        "critical": [
            Rung(after_min=5, action=RungAction.PUSH_AGAIN),
            Rung(after_min=15, action=RungAction.CHANNELS),
            Rung(after_min=30, action=RungAction.NEXT_OWNER),
        ],
        "warning": [
            Rung(after_min=30, action=RungAction.PUSH_AGAIN),
            Rung(after_min=120, action=RungAction.CHANNELS, raise_to="critical"),
            Rung(after_min=180, action=RungAction.NEXT_OWNER),
        ],
    }
)


case_attention = Table(
    "case_attention",
    metadata,
    Column("case_id", Integer, primary_key=True),
    Column("acked_by", String(128)),
    Column("acked_at", DateTime(timezone=True)),
    Column("snoozed_until", DateTime(timezone=True)),
)

escalation_steps = Table(
    "escalation_steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, nullable=False),
    Column("rung", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("case_id", "rung", name="uq_escalation_step"),
)


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Attention:
    case_id: int
    acked_by: str | None
    acked_at: datetime | None
    snoozed_until: datetime | None

    def quiet(self, now: datetime) -> bool:
        """Acknowledged, or snoozed until a time still ahead."""
        return self.acked_by is not None or (self.snoozed_until is not None and self.snoozed_until > now)


@dataclass(frozen=True, slots=True)
class DueRung:
    case_id: int
    index: int  # 1-based rung number
    rung: Rung


def due_rungs(
    policy: EscalationPolicy, severity: str, opened_at: datetime, done: set[int], now: datetime
) -> list[DueRung]:
    """Pure: the rungs of this severity whose time has come and that have not run (by 1-based index)."""
    out: list[DueRung] = []
    elapsed_min = (now - opened_at).total_seconds() / 60.0
    for i, rung in enumerate(policy.for_severity(severity), start=1):
        if rung.after_min <= elapsed_min and i not in done:
            out.append(DueRung(case_id=0, index=i, rung=rung))
    return out


class AttentionStore:
    """Acknowledgements, snoozes and claimed rungs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, case_id: int) -> Attention:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(case_attention).where(case_attention.c.case_id == case_id)).first()
        if row is None:
            return Attention(case_id, None, None, None)
        return Attention(case_id, row.acked_by, _utc(row.acked_at), _utc(row.snoozed_until))

    def _upsert(self, case_id: int, **values: object) -> None:
        # one statement: a concurrent first write cannot fail (an IntegrityError would abort a PostgreSQL transaction)
        with self.db.engine.begin() as conn:
            upsert(conn, case_attention, {"case_id": case_id}, values)

    def acknowledge(self, case_id: int, actor: str, now: datetime | None = None) -> bool:
        """True when this acknowledged the case; False when it was already acknowledged."""
        current = self.get(case_id)
        if current.acked_by is not None:
            return False
        self._upsert(case_id, acked_by=actor, acked_at=now or datetime.now(UTC))
        return True

    def snooze(self, case_id: int, minutes: float, now: datetime | None = None) -> datetime:
        return self.snooze_until(case_id, (now or datetime.now(UTC)) + timedelta(minutes=minutes))

    def snooze_until(self, case_id: int, until: datetime) -> datetime:
        self._upsert(case_id, snoozed_until=until)
        return until

    def done_rungs(self, case_id: int) -> set[int]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(escalation_steps.c.rung).where(escalation_steps.c.case_id == case_id))
            return {r.rung for r in rows}

    def claim(self, case_id: int, rung: int, action: RungAction, store: CaseStore) -> bool:
        """Claim a rung and queue it on the case outbox in one transaction. False when already claimed."""
        try:
            with self.db.engine.begin() as conn:
                conn.execute(
                    insert(escalation_steps).values(
                        case_id=case_id, rung=rung, action=action.value, claimed_at=datetime.now(UTC)
                    )
                )
                store.enqueue(case_id, MSG_ESCALATE, {"rung": rung, "action": action.value}, conn=conn)
        except IntegrityError:
            return False
        return True


class RungPerformer(Protocol):
    """What each rung does; the service wires it to the robot delivery, the channels and the owners."""

    async def push_again(self, case: Case, rung: int) -> str: ...

    async def send_channels(self, case: Case, rung: int, channels: list[str], severity: str) -> str: ...

    async def next_owner(self, case: Case, rung: int) -> str: ...


class EscalationLadder:
    """Sweeps open cases for due rungs and performs claimed rungs from the outbox."""

    CONSUMER = "escalation"

    def __init__(
        self,
        store: CaseStore,
        attention: AttentionStore,
        policy: EscalationPolicy,
        performer: RungPerformer,
    ) -> None:
        self.store = store
        self.attention = attention
        self.policy = policy
        self.performer = performer

    def sweep(self, now: datetime | None = None) -> int:
        """Claim the next due rung of every open, unacknowledged, unsnoozed case. Returns rungs claimed."""
        now = now or datetime.now(UTC)
        claimed = 0
        for case in self.store.open_cases():
            if case.status in ACTED_ON or self.attention.get(case.id).quiet(now):
                continue  # someone approved it (it runs or is being verified), or acknowledged/snoozed it
            opened = _utc(case.created_at) or now
            due = due_rungs(self.policy, case.severity, opened, self.attention.done_rungs(case.id), now)
            if due and self.attention.claim(case.id, due[0].index, due[0].rung.action, self.store):
                claimed += 1  # one rung per sweep: rungs that fell due together still go in order
                log.info("case %s: escalation rung %d (%s) due", case.id, due[0].index, due[0].rung.action)
        return claimed

    async def perform(self, msg: OutboxMessage) -> None:
        """Outbox consumer for MSG_ESCALATE (wrapped in an IdempotentConsumer by the caller)."""
        payload = msg.payload
        index = int(payload["rung"])
        case = self.store.get_case(msg.case_id)
        if case is None:
            return
        attention = self.attention.get(case.id)
        if attention.acked_by is not None:
            self.store.add_note(
                case.id, actor="system", text=f"升级第 {index} 级取消：{attention.acked_by} 已确认"
            )
            return
        rungs = self.policy.for_severity(case.severity)
        if not 1 <= index <= len(rungs):
            return
        rung = rungs[index - 1]
        severity = rung.raise_to or case.severity
        if rung.action is RungAction.PUSH_AGAIN:
            result = await self.performer.push_again(case, index)
        elif rung.action is RungAction.CHANNELS:
            result = await self.performer.send_channels(case, index, rung.channels, severity)
        else:
            result = await self.performer.next_owner(case, index)
        self.store.add_note(
            case.id,
            actor="system",
            text=f"升级第 {index} 级（{rung.action.value}）：{result}",
            detail={"escalation_rung": index, "action": rung.action.value, "severity": severity},
        )
