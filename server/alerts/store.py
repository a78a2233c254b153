"""Alert tables and batched writes. Portable SQL (SQLite and PostgreSQL); partial unique indexes keep at most one
firing row per fingerprint and one open group per resource even if two writers race."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)

from server.alerts.models import Alert
from server.storage.db import Database, metadata

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("fingerprint", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("policy", String(255), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", String(500), nullable=False),
    Column("resource", String(255), nullable=False),
    Column("group_key", String(255), nullable=False),
    Column("namespace", String(128)),
    Column("workload", String(255)),
    Column("pod", String(255)),
    Column("account", String(64)),
    Column("owner", String(128), nullable=False),
    Column("session_id", String(128)),
    Column("description", Text, nullable=False, default=""),
    Column("labels", Text, nullable=False, default="{}"),
    Column("raw", Text, nullable=False, default="{}"),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True)),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("count", Integer, nullable=False, default=1),
    Column("group_id", String(32)),
    Index("ix_alerts_group", "group_id"),
    Index("ix_alerts_owner_status", "owner", "status", "last_seen"),
    Index("ix_alerts_account", "account"),
    Index(
        "uq_alerts_firing_fingerprint",
        "fingerprint",
        unique=True,
        sqlite_where=text("status = 'firing'"),
        postgresql_where=text("status = 'firing'"),
    ),
)

alert_groups = Table(
    "alert_groups",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("group_key", String(255), nullable=False),
    Column("status", String(16), nullable=False),  # open | resolved
    Column("owner", String(128), nullable=False),
    Column("account", String(64)),
    Column("title", String(500), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("alert_count", Integer, nullable=False),  # notifications received (repeats included)
    Column("child_count", Integer, nullable=False),  # distinct alerts linked to the group
    Column("aggregated", Boolean, nullable=False, default=False),
    Column("case_id", Integer),
    Index(
        "uq_alert_groups_open_key",
        "group_key",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
    Index("ix_alert_groups_case", "case_id"),
)

webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("alerts", Integer, nullable=False),
)


# alert columns stored exactly as ``Alert`` holds them
_ALERT_COLUMNS = ("source", "status", "fingerprint", "policy", "severity", "title", "resource", "group_key",
                  "namespace", "workload", "pod", "account", "session_id")  # fmt: skip


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: str
    fingerprint: str
    source: str
    status: str
    severity: str
    title: str
    resource: str
    namespace: str | None
    workload: str | None
    pod: str | None
    account: str | None
    owner: str
    starts_at: datetime
    ends_at: datetime | None
    last_seen: datetime
    count: int
    group_id: str | None
    labels: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        for k in ("starts_at", "ends_at", "last_seen"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: str
    group_key: str
    status: str
    owner: str
    account: str | None
    title: str
    severity: str
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    alert_count: int
    child_count: int
    aggregated: bool
    case_id: int | None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        for k in ("first_seen", "last_seen", "resolved_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def _alert_record(r: Any) -> AlertRecord:
    return AlertRecord(
        id=r.id,
        fingerprint=r.fingerprint,
        source=r.source,
        status=r.status,
        severity=r.severity,
        title=r.title,
        resource=r.resource,
        namespace=r.namespace,
        workload=r.workload,
        pod=r.pod,
        account=r.account,
        owner=r.owner,
        starts_at=_utc(r.starts_at),  # type: ignore[arg-type]
        ends_at=_utc(r.ends_at),
        last_seen=_utc(r.last_seen),  # type: ignore[arg-type]
        count=r.count,
        group_id=r.group_id,
        labels=json.loads(r.labels or "{}"),
    )


def _group_record(r: Any) -> GroupRecord:
    return GroupRecord(
        id=r.id,
        group_key=r.group_key,
        status=r.status,
        owner=r.owner,
        account=r.account,
        title=r.title,
        severity=r.severity,
        first_seen=_utc(r.first_seen),  # type: ignore[arg-type]
        last_seen=_utc(r.last_seen),  # type: ignore[arg-type]
        resolved_at=_utc(r.resolved_at),
        alert_count=r.alert_count,
        child_count=r.child_count,
        aggregated=bool(r.aggregated),
        case_id=r.case_id,
    )


class AlertStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- batched writes (one transaction, the caller's connection) ----------------------------------

    @staticmethod
    def known_sessions(conn: Connection, session_ids: list[str]) -> set[str]:
        if not session_ids:
            return set()
        q = select(webhook_receipts.c.session_id).where(webhook_receipts.c.session_id.in_(session_ids))
        return {r.session_id for r in conn.execute(q)}

    @staticmethod
    def insert_receipts(conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(insert(webhook_receipts), rows)

    @staticmethod
    def insert_alerts(conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(insert(alerts), rows)

    @staticmethod
    def update_alerts(conn: Connection, rows: list[dict[str, Any]]) -> None:
        """rows: {b_id, b_status, b_ends_at, b_last_seen, b_delta (repeat notifications to add)}"""
        if rows:
            stmt = (
                update(alerts)
                .where(alerts.c.id == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    ends_at=bindparam("b_ends_at"),
                    last_seen=bindparam("b_last_seen"),
                    count=alerts.c.count + bindparam("b_delta"),
                )
            )
            conn.execute(stmt, rows)

    @staticmethod
    def insert_groups(conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(insert(alert_groups), rows)

    @staticmethod
    def update_groups(conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            stmt = (
                update(alert_groups)
                .where(alert_groups.c.id == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    title=bindparam("b_title"),
                    severity=bindparam("b_severity"),
                    last_seen=bindparam("b_last_seen"),
                    resolved_at=bindparam("b_resolved_at"),
                    alert_count=bindparam("b_alert_count"),
                    child_count=bindparam("b_child_count"),
                    aggregated=bindparam("b_aggregated"),
                    case_id=bindparam("b_case_id"),
                )
            )
            conn.execute(stmt, rows)

    # -- state for the aggregator at start-up -------------------------------------------------------

    def open_state(self) -> tuple[list[Any], list[Any]]:
        with self.db.engine.connect() as c:
            firing = c.execute(
                select(alerts.c.id, alerts.c.fingerprint, alerts.c.group_id, alerts.c.count).where(
                    alerts.c.status == "firing"
                )
            ).all()
            groups = c.execute(select(alert_groups).where(alert_groups.c.status == "open")).all()
        return list(firing), list(groups)

    # -- reads --------------------------------------------------------------------------------------

    def list_alerts(
        self,
        *,
        owner: str | None = None,
        account: str | None = None,
        status: str | None = None,
        group_id: str | None = None,
        limit: int = 50,
    ) -> list[AlertRecord]:
        q = select(alerts).order_by(alerts.c.last_seen.desc(), alerts.c.id).limit(max(1, min(limit, 10000)))
        conds = []
        if owner:
            conds.append(alerts.c.owner == owner)
        if account:
            conds.append(alerts.c.account == account)
        if status:
            conds.append(alerts.c.status == status)
        if group_id:
            conds.append(alerts.c.group_id == group_id)
        if conds:
            q = q.where(and_(*conds))
        with self.db.engine.connect() as c:
            return [_alert_record(r) for r in c.execute(q)]

    def get_alert(self, alert_id: str) -> Alert | None:
        """The stored alert as the intake parsed it (start-up resume re-traces committed cases from it)."""
        with self.db.engine.connect() as c:
            r = c.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        if r is None:
            return None
        return Alert(
            **{name: getattr(r, name) for name in _ALERT_COLUMNS},
            starts_at=_utc(r.starts_at),  # type: ignore[arg-type]
            ends_at=_utc(r.ends_at),
            description=r.description or "",
            labels=json.loads(r.labels or "{}"),
            raw=json.loads(r.raw or "{}"),
        )

    def get_group(self, group_id: str) -> GroupRecord | None:
        with self.db.engine.connect() as c:
            r = c.execute(select(alert_groups).where(alert_groups.c.id == group_id)).first()
        return _group_record(r) if r else None

    def group_for_case(self, case_id: int) -> GroupRecord | None:
        with self.db.engine.connect() as c:
            r = c.execute(select(alert_groups).where(alert_groups.c.case_id == case_id)).first()
        return _group_record(r) if r else None

    def list_groups(
        self, *, owner: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[GroupRecord]:
        q = select(alert_groups).order_by(alert_groups.c.last_seen.desc()).limit(max(1, min(limit, 10000)))
        if owner:
            q = q.where(alert_groups.c.owner == owner)
        if status:
            q = q.where(alert_groups.c.status == status)
        with self.db.engine.connect() as c:
            return [_group_record(r) for r in c.execute(q)]

    def count_receipts(self) -> int:
        with self.db.engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(webhook_receipts)).scalar_one())
