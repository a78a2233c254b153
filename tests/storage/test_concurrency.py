"""Two OS processes on one database at the same moment (SQLite file and a real PostgreSQL).

Optimistic versioning must hold under real concurrency: of two processes transitioning the same case from the
same version, exactly one wins and the other gets the 409 conflict; two dispatchers draining one outbox deliver
every message exactly once.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, insert, select

from server.cases.fsm import MSG_TRANSITIONED, State
from server.cases.store import CaseStore, case_outbox, case_timeline, idempotency_keys, outbox_consumed
from server.storage.db import Database
from tests.pg import DbBackend
from tests.storage import workers
from tests.storage.workers import drain_outbox, race_over_rest, race_transitions

T = TypeVar("T")

CASES = 10
MESSAGES = 40
RESULT_TIMEOUT_S = 150


class Pair:
    """Two spawned worker processes, reused by every test of the module (spawning costs seconds of imports)."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.barrier = ctx.Barrier(2)
        self.pool = ProcessPoolExecutor(2, mp_context=ctx, initializer=workers.init, initargs=(self.barrier,))

    def run(self, fn: Callable[..., T], *args: Any) -> list[T]:
        """``fn("w1", *args)`` and ``fn("w2", *args)`` at once, necessarily in the two different processes: each
        call waits at the barrier for the other, so one process cannot run both."""
        self.barrier.reset()
        futures = [self.pool.submit(fn, name, *args) for name in ("w1", "w2")]
        return [f.result(timeout=RESULT_TIMEOUT_S) for f in futures]


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    p = Pair()
    yield p
    p.pool.shutdown(wait=True, cancel_futures=True)


def new_cases(store: CaseStore, n: int) -> list[int]:
    return [store.create_case(owner="owner:alice", title=f"prod/api-{i} 5xx").id for i in range(n)]


def count(db: Database, table: Any, *where: Any) -> int:
    with db.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_two_processes_transition_the_same_case_exactly_one_wins(
    pair: Pair, db_backend: DbBackend, tmp_path: Path
) -> None:
    db = db_backend.open(tmp_path / "race.sqlite3")
    store = CaseStore(db)
    ids = new_cases(store, CASES)
    reports = pair.run(race_transitions, db.url, ids, False)

    assert [r.errors for r in reports] == [[], []]
    wins = Counter(i for r in reports for i in r.won)
    losses = Counter(i for r in reports for i, _ in r.conflicts)
    assert wins == Counter(ids)  # every case: exactly one winner ...
    assert losses == Counter(ids)  # ... and exactly one loser, told 409
    assert {status for r in reports for _, status in r.conflicts} == {409}
    a, b = (r.spans for r in reports)
    overlapped = [i for i in ids if a[i][0] < b[i][1] and b[i][0] < a[i][1]]
    assert overlapped  # the two attempts were in flight at the same time (the barrier sees to it)
    for case_id in ids:
        case = store.get_case(case_id)
        assert case is not None and (case.status, case.version) == (State.ANALYZING, 2)
        moves = [t for t in store.timeline(case_id) if t.kind == "transition"]
        assert len(moves) == 1  # the loser wrote nothing: no second timeline entry ...
        sent = [m for m in store.outbox_messages(case_id) if m["msg_type"] == MSG_TRANSITIONED]
        assert len(sent) == 1  # ... and no second outbox message


def test_two_instances_over_rest_one_200_one_409(pair: Pair, db_backend: DbBackend, tmp_path: Path) -> None:
    db = db_backend.open(tmp_path / "rest.sqlite3")
    store = CaseStore(db)
    ids = new_cases(store, CASES // 2)
    first, second = pair.run(race_over_rest, db.url, ids)
    assert {i: sorted([first[i], second[i]]) for i in ids} == {i: [200, 409] for i in ids}
    for case_id in ids:
        case = store.get_case(case_id)
        assert case is not None and (case.status, case.version) == (State.ANALYZING, 2)


def test_same_idempotency_key_from_two_processes_applies_once(
    pair: Pair, db_backend: DbBackend, tmp_path: Path
) -> None:
    db = db_backend.open(tmp_path / "replay.sqlite3")
    store = CaseStore(db)
    ids = new_cases(store, CASES)
    reports = pair.run(race_transitions, db.url, ids, True)

    assert [r.errors for r in reports] == [[], []]
    assert Counter(i for r in reports for i in r.won) == Counter(ids)  # applied once per case
    # the other request (a retry racing the original) is answered with the original's stored result, not a 409
    assert Counter(i for r in reports for i in r.replayed) == Counter(ids)
    assert [r.conflicts for r in reports] == [[], []]
    assert count(db, idempotency_keys) == CASES
    assert count(db, case_timeline, case_timeline.c.kind == "transition") == CASES
    for case_id in ids:
        replay = store.stored_result(f"start-{case_id}")
        assert replay is not None and replay.version == 2 and replay.to_state is State.ANALYZING


def test_two_dispatchers_deliver_each_message_exactly_once(
    pair: Pair, db_backend: DbBackend, tmp_path: Path
) -> None:
    db = db_backend.open(tmp_path / "outbox.sqlite3")
    store = CaseStore(db)
    (case_id,) = new_cases(store, 1)
    now = datetime.now(UTC)
    rows = [
        {
            "case_id": case_id,
            "msg_type": "test.note",
            "payload": f'{{"n": {n}}}',
            "created_at": now,
            "available_at": now,
        }
        for n in range(MESSAGES)
    ]
    with db.engine.begin() as c:
        c.execute(insert(case_outbox), rows)
    expected = sorted(m["id"] for m in store.outbox_messages())  # MESSAGES + the case.created message

    reports = pair.run(drain_outbox, db.url, ["case.created", "test.note"], 5)

    assert [r.errors for r in reports] == [[], []]
    handled = [i for r in reports for i in r.handled]
    assert sorted(handled) == expected  # every message acted on once: none lost, none twice
    assert all(r.handled for r in reports)  # both processes delivered (they overlapped: see the worker)
    assert all(m["delivered_at"] is not None and m["attempts"] == 0 for m in store.outbox_messages())
    assert count(db, outbox_consumed) == len(expected)
