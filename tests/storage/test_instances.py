"""Two instances on one database (each its own engine and its own in-memory alert aggregator), as in the README's
"several instances" section: what they share stays consistent whichever instance a notification reaches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.alerts.service import AlertService, IntakeUnavailable
from server.alerts.tencent import parse_tencent, session_id_of
from server.cases.service import CaseService
from server.cases.store import StaticApprovers
from tests.alerts.bodies import tke_pod_alarm
from tests.pg import DbBackend

SENDER_TRIES = 3  # Tencent retries a failed callback up to 3 times


@pytest.fixture
async def two(db_backend: DbBackend, tmp_path: Path) -> AsyncIterator[tuple[AlertService, AlertService]]:
    services = []
    for _ in range(2):  # the same database, a second engine and aggregator
        db = db_backend.open(tmp_path / "shared.sqlite3")
        services.append(AlertService(db, CaseService(db, approvers=StaticApprovers())))
    for s in services:
        await s.start()  # both load their state at start-up, before any alert exists
    yield services[0], services[1]
    for s in services:
        await s.stop()


async def notify(service: AlertService, session_id: str, pod: str, status: int = 1) -> str:
    """One callback as the sender makes it: retried when the instance answers 503."""
    body = tke_pod_alarm(session_id, pod=pod, status=status)
    for _ in range(SENDER_TRIES):
        try:
            return await service.accept(
                [parse_tencent(body)], source="tencent", session_id=session_id_of(body)
            )
        except IntakeUnavailable:
            continue
    raise AssertionError(f"callback {session_id} was not stored after {SENDER_TRIES} tries")


async def test_alerts_reaching_either_instance_form_one_incident(
    two: tuple[AlertService, AlertService],
) -> None:
    a, b = two
    for i in range(6):  # pods of one workload, alternating between the instances
        assert await notify(a if i % 2 == 0 else b, f"s-{i}", f"api-{i}") == "accepted"
    assert await notify(b, "s-0", "api-0") == "duplicate"  # a retry landing on the other instance
    groups = a.list_groups(status="open")
    assert len(groups) == 1  # one open incident for the workload, not one per instance
    assert len(a.cases.list_cases()) == len(b.cases.list_cases()) == 1  # and one case
    children = a.group_children(groups[0].id)
    assert sorted(str(c.pod) for c in children) == [f"api-{i}" for i in range(6)]
    assert all(c.count == 1 for c in children)  # the retry was not counted as a repeat
    # the recovery reported to the instance that did not see the alert fire still resolves it
    assert await notify(b, "r-0", "api-0", status=0) == "accepted"
    assert {c.pod for c in a.list_alerts(status="resolved")} == {"api-0"}
