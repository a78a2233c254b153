"""The escalation ladder over a real case store and outbox: order, acknowledgement, snooze, restart."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.cases.fsm import State
from server.cases.outbox import IdempotentConsumer, OutboxDispatcher
from server.cases.service import CaseService
from server.cases.store import Case, CaseStore, cases
from server.notify.escalation import (
    DEFAULT_POLICY,
    MSG_ESCALATE,
    AttentionStore,
    EscalationLadder,
    EscalationPolicy,
    Rung,
    RungAction,
    due_rungs,
)
from server.storage.db import Database
from tests.pg import DbBackend

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@dataclass
class RecordingPerformer:
    calls: list[tuple[str, int, int]] = field(default_factory=list)

    async def push_again(self, case: Case, rung: int) -> str:
        self.calls.append(("push_again", case.id, rung))
        return "pushed"

    async def send_channels(self, case: Case, rung: int, channels: list[str], severity: str) -> str:
        self.calls.append((f"channels:{severity}", case.id, rung))
        return "sent on wecom"

    async def next_owner(self, case: Case, rung: int) -> str:
        self.calls.append(("next_owner", case.id, rung))
        return "told bob"


@dataclass
class Rig:
    db: Database
    service: CaseService
    attention: AttentionStore
    performer: RecordingPerformer
    ladder: EscalationLadder
    dispatcher: OutboxDispatcher


def _rig(db: Database, performer: RecordingPerformer | None = None) -> Rig:
    service = CaseService(db)
    attention = AttentionStore(db)
    performer = performer or RecordingPerformer()
    ladder = EscalationLadder(service.store, attention, DEFAULT_POLICY, performer)
    dispatcher = OutboxDispatcher(service.store)
    dispatcher.register(
        MSG_ESCALATE, IdempotentConsumer(service.store, EscalationLadder.CONSUMER, ladder.perform)
    )
    return Rig(db, service, attention, performer, ladder, dispatcher)


@pytest.fixture
def db(db_backend: DbBackend, tmp_path: Path) -> Database:
    return db_backend.open(tmp_path / "esc.sqlite3")  # SQLite and PostgreSQL


def _case(rig: Rig, severity: str = "critical") -> Case:
    case = rig.service.create_case(owner="alice", title="payment-svc 5xx", severity=severity)
    return case


def _at(case: Case, minutes: float) -> datetime:
    created = case.created_at if case.created_at.tzinfo else case.created_at.replace(tzinfo=UTC)
    return created + timedelta(minutes=minutes)


def test_due_rungs_is_a_pure_function_of_policy_age_and_done():
    rungs = due_rungs(DEFAULT_POLICY, "critical", T0, done=set(), now=T0 + timedelta(minutes=16))
    assert [(r.index, r.rung.action) for r in rungs] == [(1, RungAction.PUSH_AGAIN), (2, RungAction.CHANNELS)]
    assert due_rungs(DEFAULT_POLICY, "critical", T0, done={1, 2}, now=T0 + timedelta(minutes=16)) == []
    assert due_rungs(DEFAULT_POLICY, "info", T0, done=set(), now=T0 + timedelta(days=1)) == []


async def test_an_unacknowledged_case_climbs_one_rung_at_a_time_in_order(db):
    rig = _rig(db)
    case = _case(rig)
    assert rig.ladder.sweep(_at(case, 1)) == 0
    for minute in (6, 16, 31, 31, 60):
        rig.ladder.sweep(_at(case, minute))
        await rig.dispatcher.dispatch_once()
    assert rig.performer.calls == [
        ("push_again", case.id, 1),
        ("channels:critical", case.id, 2),
        ("next_owner", case.id, 3),
    ]
    notes = [e for e in rig.service.store.timeline(case.id) if e.kind == "note"]
    assert len(notes) == 3 and "升级第 2 级" in str(notes[1].detail)


async def test_a_warning_raises_to_critical_on_its_channel_rung(db):
    rig = _rig(db)
    case = _case(rig, severity="warning")
    for minute in (31, 121):
        rig.ladder.sweep(_at(case, minute))
        await rig.dispatcher.dispatch_once()
    assert [c[0] for c in rig.performer.calls] == ["push_again", "channels:critical"]


async def test_acknowledging_stops_the_ladder_even_for_a_rung_already_queued(db):
    rig = _rig(db)
    case = _case(rig)
    rig.ladder.sweep(_at(case, 6))
    await rig.dispatcher.dispatch_once()
    rig.ladder.sweep(_at(case, 16))  # rung 2 queued ...
    assert rig.attention.acknowledge(case.id, "owner:alice")  # ... then "收到"
    assert not rig.attention.acknowledge(case.id, "owner:bob")
    await rig.dispatcher.dispatch_once()
    assert rig.ladder.sweep(_at(case, 60)) == 0
    assert rig.performer.calls == [("push_again", case.id, 1)]
    assert "owner:alice 已确认" in str(rig.service.store.timeline(case.id)[-1].detail)


async def test_snooze_pauses_the_ladder_until_it_expires(db):
    rig = _rig(db)
    case = _case(rig)
    rig.attention.snooze(case.id, 10, now=_at(case, 0))
    assert rig.ladder.sweep(_at(case, 6)) == 0
    assert rig.ladder.sweep(_at(case, 11)) == 1


async def test_a_restart_in_the_middle_of_the_ladder_resumes_without_duplicates(db, tmp_path):
    first = _rig(db)
    case = _case(first)
    first.ladder.sweep(_at(case, 6))
    await first.dispatcher.dispatch_once()
    first.ladder.sweep(_at(case, 16))  # rung 2 claimed and queued, then the process dies
    first.db.dispose()

    again = Database(first.db.url)
    second = _rig(again, first.performer)
    for minute in (16, 20, 31, 45):
        second.ladder.sweep(_at(case, minute))
        await second.dispatcher.dispatch_once()
        await second.dispatcher.dispatch_once()
    assert first.performer.calls == [
        ("push_again", case.id, 1),
        ("channels:critical", case.id, 2),
        ("next_owner", case.id, 3),
    ]


def test_the_policy_is_configurable_and_validated():
    policy = EscalationPolicy.from_json('{"rungs": {"critical": [{"after_min": 1, "action": "channels"}]}}')
    assert policy.for_severity("critical") == [Rung(after_min=1, action=RungAction.CHANNELS)]
    assert EscalationPolicy.from_json("") is DEFAULT_POLICY
    with pytest.raises(ValueError):
        EscalationPolicy.from_json('{"rungs": {"critical": [{"after_min": -5, "action": "call_mom"}]}}')


def test_claims_are_unique_per_case_and_rung(db):
    rig = _rig(db)
    case = _case(rig)
    store: CaseStore = rig.service.store
    assert rig.attention.claim(case.id, 1, RungAction.PUSH_AGAIN, store)
    assert not rig.attention.claim(case.id, 1, RungAction.PUSH_AGAIN, store)


async def test_an_approved_case_that_is_executing_does_not_escalate(db):
    from tests.cases.helpers import case_at_gate

    rig = _rig(db)
    gate = case_at_gate(rig.service)
    with db.engine.begin() as conn:  # as after a spoken approval: the action runs
        conn.execute(cases.update().where(cases.c.id == gate.id).values(status=State.EXECUTING.value))
    assert rig.ladder.sweep(_at(gate, 60)) == 0
