"""Label values longer than a column: SQLite stores them, PostgreSQL refuses them. An alert must be stored, grouped
and recognised again on both backends, also by an instance that restarted and reloaded its state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String

from server.alerts.alertmanager import parse_alertmanager
from server.alerts.models import MAX_LEN
from server.alerts.service import AlertService
from server.alerts.store import alert_groups, alerts, webhook_receipts
from server.cases.fsm import Event
from server.cases.service import CaseService
from server.cases.store import KEY_LEN, CaseStore, ConflictError, cases, idempotency_keys
from server.storage.db import fit_text
from tests.alerts.bodies import alertmanager_v4, am_alert
from tests.pg import DbBackend

LONG_POD = "api-" + "p" * 300
LONG_ACCOUNT = "tenant-" + "a" * 100
LONG_NAMESPACE = "n" * 200


def long_alert(status: str = "firing", *, instance: str | None = None) -> dict[str, Any]:
    alert = am_alert(LONG_POD, status, namespace=LONG_NAMESPACE)
    alert["labels"]["account"] = LONG_ACCOUNT
    if instance:  # no workload or pod: the instance is the resource and the group
        for name in ("pod", "deployment", "container"):
            del alert["labels"][name]
        alert["labels"]["instance"] = instance
    return alert


def test_alert_field_limits_fit_every_column_they_are_stored_in() -> None:
    for table in (alerts, alert_groups, webhook_receipts, cases):
        for column in table.columns:
            if column.name in MAX_LEN and isinstance(column.type, String) and column.type.length:
                assert MAX_LEN[column.name] <= column.type.length, f"{table.name}.{column.name}"


def test_fit_text_keeps_distinct_values_distinct() -> None:
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert len(fit_text(a, 255)) == 255 and fit_text(a, 255) != fit_text(b, 255)
    assert fit_text(a, 255) == fit_text(a, 255) and fit_text("short", 255) == "short"


async def started(backend: DbBackend, path: Path) -> AlertService:
    db = backend.open(path)
    service = AlertService(db, CaseService(db))
    await service.start()
    return service


async def test_long_label_values_are_stored_and_grouped(db_backend: DbBackend, tmp_path: Path) -> None:
    backend, path = db_backend, tmp_path / "long.sqlite3"
    long_instance = "http://" + "h" * 400 + ":9100/metrics"
    first = await started(backend, path)
    body = alertmanager_v4([long_alert(), long_alert(instance=long_instance)])
    assert await first.accept(parse_alertmanager(body), source="alertmanager") == "accepted"
    await first.accept(parse_alertmanager(body), source="alertmanager")  # a repeat notification
    stored = first.list_alerts()
    assert len(stored) == 2 and all(a.count == 2 for a in stored)  # recognised again, not new alerts
    assert {a.account for a in stored} == {fit_text(LONG_ACCOUNT, MAX_LEN["account"])}
    assert len(first.list_groups(status="open")) == 2 and len(first.cases.list_cases()) == 2
    await first.stop()

    # a restarted instance reloads the groups from the database and still matches the long keys
    second = await started(backend, path)
    again = alertmanager_v4([long_alert(), long_alert(instance=long_instance)])
    assert await second.accept(parse_alertmanager(again), source="alertmanager") == "accepted"
    assert sorted(a.count for a in second.list_alerts()) == [3, 3]
    assert len(second.list_groups(status="open")) == 2 and len(second.cases.list_cases()) == 2
    resolved = alertmanager_v4(
        [long_alert("resolved"), long_alert("resolved", instance=long_instance)], "resolved"
    )
    assert await second.accept(parse_alertmanager(resolved), source="alertmanager") == "accepted"
    assert {a.status for a in second.list_alerts()} == {"resolved"}
    await second.stop()


def test_an_idempotency_key_longer_than_its_column_still_replays(
    db_backend: DbBackend, tmp_path: Path
) -> None:
    assert idempotency_keys.c.key.type.length == KEY_LEN  # type: ignore[attr-defined]
    store = CaseStore(db_backend.open(tmp_path / "key.sqlite3"))
    case = store.create_case(owner="owner:alice", title="t")
    key = "console-" + "k" * 300  # e.g. a 200-character client key scoped to a reopen round ("#r1")
    first = store.transition(case.id, Event.START_ANALYSIS, case.version, "owner:alice", idempotency_key=key)
    again = store.transition(case.id, Event.START_ANALYSIS, case.version, "owner:alice", idempotency_key=key)
    assert again.replayed and (again.version, again.timeline_id) == (first.version, first.timeline_id)
    other = key[:-1] + "x"  # same first 200 characters, another key: not a replay of the first
    with pytest.raises(ConflictError):
        store.transition(case.id, Event.START_ANALYSIS, case.version, "owner:alice", idempotency_key=other)
    assert store.stored_result(key) is not None and store.stored_result(other) is None
