"""Silences in the shared database; expiry is by time, so nothing needs to clean them up to take effect."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table, Text, insert, select, update
from sqlalchemy.engine import Row

from server.silences.models import Matcher, Silence, SilenceIn
from server.storage.db import Database, metadata

silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(128), nullable=False),
    Column("matchers", Text, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("expired", Boolean, nullable=False, default=False),
)


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class SilenceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, data: SilenceIn, created_by: str) -> Silence:
        with self.db.engine.begin() as conn:
            result = conn.execute(
                insert(silences).values(
                    owner=data.owner,
                    matchers=json.dumps([m.model_dump(mode="json") for m in data.matchers]),
                    starts_at=data.starts_at.astimezone(UTC),
                    ends_at=data.ends_at.astimezone(UTC),
                    created_by=created_by,
                    comment=data.comment,
                    expired=False,
                )
            )
            new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        got = self.get(new_id)
        assert got is not None
        return got

    def get(self, silence_id: int) -> Silence | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(silences).where(silences.c.id == silence_id)).first()
        return _row(row) if row is not None else None

    def expire(self, silence_id: int, owner: str | None = None) -> bool:
        """End a silence now (owner-scoped when given). False when there was no such silence."""
        q = update(silences).where(silences.c.id == silence_id, silences.c.expired.is_(False))
        if owner is not None:
            q = q.where(silences.c.owner == owner)
        with self.db.engine.begin() as conn:
            return conn.execute(q.values(expired=True)).rowcount > 0

    def list(
        self, owner: str | None = None, *, now: datetime | None = None, active_only: bool = True
    ) -> list[Silence]:
        """Silences still in force or yet to start (``active_only``), or all, newest first."""
        now = (now or datetime.now(UTC)).astimezone(UTC)  # stored as UTC; SQLite compares the text
        q = select(silences).order_by(silences.c.id.desc())
        if owner is not None:
            q = q.where(silences.c.owner == owner)
        if active_only:
            q = q.where(silences.c.expired.is_(False), silences.c.ends_at > now)
        with self.db.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def silencing(self, owner: str, labels: dict[str, str], now: datetime | None = None) -> Silence | None:
        """The silence that suppresses an alert with these labels for this owner now, if any."""
        now = now or datetime.now(UTC)
        for s in self.list(owner, now=now):
            if s.active(now) and s.matches(owner, labels):
                return s
        return None


def _row(r: Row[Any]) -> Silence:
    m = r._mapping
    return Silence(
        id=m["id"],
        owner=m["owner"],
        matchers=tuple(Matcher.model_validate(x) for x in json.loads(m["matchers"])),
        starts_at=_utc(m["starts_at"]),
        ends_at=_utc(m["ends_at"]),
        created_by=m["created_by"],
        comment=m["comment"],
        expired=bool(m["expired"]),
    )
