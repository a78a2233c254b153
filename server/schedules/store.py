"""Schedules and their firings in the shared database. A firing is claimed once per (schedule, minute), so two
processes, or a restart that replays a missed run, never announce the same slot twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from server.schedules.models import Schedule, ScheduleIn
from server.storage.db import Database, metadata

schedules = Table(
    "schedules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(128), nullable=False),
    Column("spec", Text, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)

schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule_id", Integer, nullable=False),
    Column("slot", String(32), nullable=False),  # the local minute it was due, e.g. 2026-11-28T09:00
    Column("at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(200), nullable=False, default=""),
    UniqueConstraint("schedule_id", "slot", name="uq_schedule_fire"),
)


def _row(r: Row[Any]) -> Schedule:
    m = r._mapping
    created = m["created_at"]
    return Schedule(
        id=m["id"],
        spec=ScheduleIn.model_validate(json.loads(m["spec"])),
        created_by=m["created_by"],
        created_at=created.replace(tzinfo=UTC) if created.tzinfo is None else created,
    )


class ScheduleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, spec: ScheduleIn, created_by: str) -> Schedule:
        with self.db.engine.begin() as conn:
            result = conn.execute(
                insert(schedules).values(
                    owner=spec.owner,
                    spec=spec.model_dump_json(),
                    created_by=created_by,
                    created_at=datetime.now(UTC),
                    active=True,
                )
            )
            new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        got = self.get(new_id)
        assert got is not None
        return got

    def get(self, schedule_id: int) -> Schedule | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(schedules).where(schedules.c.id == schedule_id, schedules.c.active.is_(True))
            ).first()
        return _row(row) if row is not None else None

    def active(self, owner: str | None = None) -> list[Schedule]:
        q = select(schedules).where(schedules.c.active.is_(True)).order_by(schedules.c.id)
        if owner is not None:
            q = q.where(schedules.c.owner == owner)
        with self.db.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def cancel(self, schedule_id: int) -> bool:
        with self.db.engine.begin() as conn:
            return (
                conn.execute(
                    update(schedules)
                    .where(schedules.c.id == schedule_id, schedules.c.active.is_(True))
                    .values(active=False)
                ).rowcount
                > 0
            )

    def claim_fire(self, schedule_id: int, slot: str) -> bool:
        """True for the one caller that gets to announce this slot."""
        try:
            with self.db.engine.begin() as conn:
                conn.execute(
                    insert(schedule_fires).values(
                        schedule_id=schedule_id, slot=slot, at=datetime.now(UTC), outcome=""
                    )
                )
        except IntegrityError:
            return False
        return True

    def record_outcome(self, schedule_id: int, slot: str, outcome: str) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                update(schedule_fires)
                .where(schedule_fires.c.schedule_id == schedule_id, schedule_fires.c.slot == slot)
                .values(outcome=outcome[:200])
            )

    def fires(self, schedule_id: int) -> list[tuple[str, str]]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(schedule_fires.c.slot, schedule_fires.c.outcome)
                .where(schedule_fires.c.schedule_id == schedule_id)
                .order_by(schedule_fires.c.id)
            )
            return [(r.slot, r.outcome) for r in rows]
