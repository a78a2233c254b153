"""Issue 10.3: a re-approval after a reopen really executes (its idempotency key changes with the round); an executor
call that timed out but ran is recognised by the executor's "already done" answer, and counted as success; the
executor timeout is a setting with a generous default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from server.cases.executor import DEFAULT_TIMEOUT_S, ExecutorAdapter, already_done
from server.cases.fsm import Event, State
from server.cases.outbox import Backoff
from server.cases.plans import deterministic_plan
from server.cases.service import CaseService
from server.config import Settings
from server.storage.db import Database
from tests.alerts.helpers import serve
from tests.cases.conftest import APPROVERS
from tests.cases.helpers import case_at_gate


@asynccontextmanager
async def runner_endpoint(hang_first: bool = False) -> AsyncIterator[tuple[str, list[str]]]:
    """A cluster runner that dedupes by Idempotency-Key, as a real one must: a key it has run answers 409
    ``already_done``. The first call may hang until the test ends (the action runs; the caller has given up
    waiting), so the caller's timeout fires whatever the machine's speed."""
    keys: list[str] = []
    done: set[str] = set()
    release = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        keys.append(key)
        if key in done:
            return web.json_response(
                {"status": "already_done", "error": f"{key} already executed"}, status=409
            )
        done.add(key)
        if hang_first and len(keys) == 1:
            await release.wait()
        return web.json_response({"ok": True, "revision": 7})

    app = web.Application()
    app.router.add_post("/execute", handle)
    async with serve(app) as base:
        try:
            yield f"{base}/execute", keys
        finally:
            release.set()  # the hung first call answers now, so the server stops at once


def service_for(db: Database, url: str, timeout_s: float = 30.0) -> CaseService:
    service = CaseService(
        db, approvers=APPROVERS, executor=ExecutorAdapter(url, "tok", dry_run=False, timeout_s=timeout_s)
    )
    service.dispatcher.backoff = Backoff(base_s=0.0)
    return service


async def deliver(service: CaseService, rounds: int = 6) -> None:
    for _ in range(rounds):
        await service.dispatcher.dispatch_once()


async def test_reapproval_after_reopen_runs_again_with_a_new_key(db: Database) -> None:
    async with runner_endpoint() as (url, keys):
        service = service_for(db, url)
        case = case_at_gate(service)
        key = f"approve-{case.id}"  # what the voice dialogue sends for this case
        service.approve(case.id, approver="owner:alice", challenge_passed=True, idempotency_key=key)
        await deliver(service)
        assert service.get_case(case.id).status is State.VERIFYING
        service.verify(case.id, recovered=False)  # the alert did not recover: parked
        service.transition(case.id, Event.REOPEN, None, "owner:alice")
        service.propose_plan(case.id, deterministic_plan(namespace="prod", workload="api"), actor="tracer")
        again = service.approve(case.id, approver="owner:alice", challenge_passed=True, idempotency_key=key)
        assert not again.replayed and again.to_state is State.EXECUTING  # not the old approval replayed
        # and a retry of this second approval is still idempotent
        assert service.approve(
            case.id, approver="owner:alice", challenge_passed=True, idempotency_key=key
        ).replayed
        await deliver(service)
    assert len(keys) == 2 and keys[0] != keys[1]  # the action really ran a second time
    assert service.get_case(case.id).status is State.VERIFYING


async def test_a_timed_out_call_that_ran_is_success_not_a_parked_case(db: Database) -> None:
    async with runner_endpoint(hang_first=True) as (url, keys):
        # the first call times out (the runner hangs on it); the retry has 2 s, ample on a loaded machine
        service = service_for(db, url, timeout_s=2.0)
        case = case_at_gate(service)
        service.approve(case.id, approver="owner:alice", challenge_passed=True)
        await deliver(service)
    assert len(keys) == 2 and keys[0] == keys[1]  # retried with the same Idempotency-Key
    done = service.get_case(case.id)
    assert done.status is State.VERIFYING, done.reason
    (ok,) = [t for t in service.timeline(case.id) if t.event == Event.EXECUTION_SUCCEEDED.value]
    assert ok.detail["response"]["already_done"] is True


def test_already_done_answers_and_the_timeout_setting() -> None:
    assert already_done(409, {"status": "already_done"})
    assert already_done(208, {})
    assert already_done(409, {"error": "key case-1-v5 already executed"})
    assert not already_done(409, {"ok": False, "error": "deployment api has no previous revision"})
    assert not already_done(200, {"ok": True})
    adapter = ExecutorAdapter.from_settings(Settings(_env_file=None, executor_timeout_s=300))
    assert adapter.timeout.total == 300
    assert Settings(_env_file=None).executor_timeout_s == DEFAULT_TIMEOUT_S >= 60
