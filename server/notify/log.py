"""The notification log: every send attempt of a rung, pending → sent / failed, in the shared database.

A row is written as ``pending`` before the request goes out and settled after it, so a crash in between leaves a
visible ``pending`` row rather than nothing. ``(case_id, rung, channel)`` is unique: a rung that already reached a
channel is never sent there again, which together with the outbox's idempotent consumer makes a restart in the
middle of a ladder resume without duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Integer, String, Table, Text, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError

from server.notify.models import SendOutcome, SendStatus
from server.storage.db import Database, metadata

notification_log = Table(
    "notification_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, nullable=False),
    Column("rung", Integer, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("case_id", "rung", "channel", name="uq_notification_once"),
)


@dataclass(frozen=True, slots=True)
class LogEntry:
    case_id: int
    rung: int
    channel: str
    kind: str
    status: SendStatus
    detail: str
    attempts: int
    at: datetime


class NotificationLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def begin(self, case_id: int, rung: int, channel: str, kind: str) -> bool:
        """Record a pending send. False when this rung already went (or is going) to this channel."""
        now = datetime.now(UTC)
        try:
            with self.db.engine.begin() as conn:
                conn.execute(
                    notification_log.insert().values(
                        case_id=case_id,
                        rung=rung,
                        channel=channel,
                        kind=kind,
                        status=SendStatus.PENDING.value,
                        detail="",
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            with self.db.engine.connect() as conn:
                status = conn.execute(
                    select(notification_log.c.status).where(
                        notification_log.c.case_id == case_id,
                        notification_log.c.rung == rung,
                        notification_log.c.channel == channel,
                    )
                ).scalar_one()
            # a failed or interrupted (pending) earlier try may go again; a sent one never
            return status != SendStatus.SENT.value
        return True

    def settle(self, case_id: int, rung: int, outcome: SendOutcome) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                update(notification_log)
                .where(
                    notification_log.c.case_id == case_id,
                    notification_log.c.rung == rung,
                    notification_log.c.channel == outcome.channel,
                )
                .values(
                    status=outcome.status.value,
                    detail=outcome.detail,
                    attempts=notification_log.c.attempts + outcome.attempts,
                    updated_at=datetime.now(UTC),
                )
            )

    def entries(self, case_id: int | None = None) -> list[LogEntry]:
        q = select(notification_log).order_by(notification_log.c.id)
        if case_id is not None:
            q = q.where(notification_log.c.case_id == case_id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            LogEntry(
                case_id=r["case_id"],
                rung=r["rung"],
                channel=r["channel"],
                kind=r["kind"],
                status=SendStatus(r["status"]),
                detail=r["detail"],
                attempts=r["attempts"],
                at=r["updated_at"],
            )
            for r in rows
        ]
