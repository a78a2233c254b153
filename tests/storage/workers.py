"""Code that runs in separate OS processes (multiprocessing, spawn) against one shared database.

Each worker opens its own engine on the URL it is given, exactly like a second server instance would, waits at a
barrier so the processes really act at the same moment, and sends a plain-data report back on a queue.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier

from server.cases.fsm import Event
from server.cases.outbox import IdempotentConsumer, OutboxDispatcher
from server.cases.store import CaseError, CaseStore, OutboxMessage
from server.storage.db import Database

BARRIER_TIMEOUT_S = 60.0
_barrier: Barrier | None = None


def init(barrier: Barrier) -> None:
    """Pool initializer: the barrier both processes meet at (shared by inheritance, as multiprocessing requires)."""
    global _barrier
    _barrier = barrier


def meet() -> None:
    assert _barrier is not None, "run in a pool started with initializer=init"
    _barrier.wait(BARRIER_TIMEOUT_S)


@dataclass
class TransitionReport:
    worker: str
    won: list[int] = field(default_factory=list)  # case ids this process moved
    replayed: list[int] = field(default_factory=list)  # same Idempotency-Key: got the winner's stored result
    conflicts: list[tuple[int, int]] = field(default_factory=list)  # (case id, error status)
    errors: list[str] = field(default_factory=list)  # anything else: a bug
    spans: dict[int, tuple[float, float]] = field(default_factory=dict)  # case id -> monotonic start, end


def race_transitions(worker: str, url: str, case_ids: list[int], same_key: bool) -> TransitionReport:
    """For every case (version 1, state NEW): meet the other process at the barrier, then apply START_ANALYSIS
    expecting version 1. With ``same_key`` both send the same Idempotency-Key (a client retry racing itself)."""
    db = Database(url)
    store = CaseStore(db)
    report = TransitionReport(worker)
    try:
        for case_id in case_ids:
            meet()
            key = f"start-{case_id}" if same_key else None
            t0 = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on the machine
            try:
                result = store.transition(case_id, Event.START_ANALYSIS, 1, worker, idempotency_key=key)
            except CaseError as exc:
                report.conflicts.append((case_id, exc.status))
                if exc.status != 409:
                    report.errors.append(f"case {case_id}: {type(exc).__name__}: {exc}")
            except Exception as exc:  # reported to the test, which fails on it
                report.errors.append(f"case {case_id}: {type(exc).__name__}: {exc}")
            else:
                (report.replayed if result.replayed else report.won).append(case_id)
            report.spans[case_id] = (t0, time.monotonic())
    finally:
        db.dispose()
    return report


@dataclass
class DrainReport:
    worker: str
    handled: list[int] = field(default_factory=list)  # message ids the consumer acted on in this process
    errors: list[str] = field(default_factory=list)


def drain_outbox(worker: str, url: str, msg_types: list[str], batch: int) -> DrainReport:
    """Run a real ``OutboxDispatcher`` with an ``IdempotentConsumer`` until nothing is left undelivered.

    The consumer's first message waits at the barrier until the other process is also holding a claimed message:
    both dispatchers are provably mid-delivery at the same time (a claim that blocked the other would time out)."""
    db = Database(url)
    store = CaseStore(db)
    report = DrainReport(worker)
    met = False

    async def act(msg: OutboxMessage) -> None:
        nonlocal met
        if not met:
            met = True
            await asyncio.to_thread(meet)
        report.handled.append(msg.id)

    async def run() -> None:
        dispatcher = OutboxDispatcher(store, batch=batch, lease_s=120.0)
        consumer = IdempotentConsumer(store, "audit-log", act)
        for msg_type in msg_types:
            dispatcher.register(msg_type, consumer)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if await dispatcher.dispatch_once() == 0:
                pending = [m for m in store.outbox_messages() if m["delivered_at"] is None]
                if not pending:
                    return
                await asyncio.sleep(0.02)  # the other process holds the rest
        report.errors.append(f"{worker}: outbox not drained within 120 s (pid {os.getpid()})")

    try:
        asyncio.run(run())
    except Exception as exc:  # reported to the test, which fails on it
        report.errors.append(f"{worker}: {type(exc).__name__}: {exc}")
    finally:
        db.dispose()
    return report


def race_over_rest(worker: str, url: str, case_ids: list[int]) -> dict[int, int]:
    """This process is one instance: the cases REST API (behind the real HTTP guard) on its own port and engine.
    For every case it meets the other instance at the barrier, then POSTs START_ANALYSIS with ``If-Match: "1"``
    to itself. Returns case id -> HTTP status."""
    import aiohttp

    from server.cases.routes import setup_case_routes
    from server.cases.service import CaseService
    from tests.alerts.helpers import serve
    from tests.http_auth import ADMIN, guarded_app

    async def run() -> dict[int, int]:
        db = Database(url)
        app = guarded_app()
        setup_case_routes(app, CaseService(db))
        statuses: dict[int, int] = {}
        try:
            async with serve(app) as base, aiohttp.ClientSession(headers=ADMIN) as http:
                for case_id in case_ids:
                    await asyncio.to_thread(meet)
                    async with http.post(
                        f"{base}/api/cases/{case_id}/transitions",
                        json={"event": Event.START_ANALYSIS.value},
                        headers={"If-Match": '"1"'},
                    ) as resp:
                        statuses[case_id] = resp.status
        finally:
            db.dispose()
        return statuses

    return asyncio.run(run())
