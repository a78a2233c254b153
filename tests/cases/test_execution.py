"""Approval → outbox → executor endpoint, with a real local aiohttp endpoint standing in for the cluster runner."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import update

from server.cases.executor import ExecutorAdapter
from server.cases.fsm import MSG_TRANSITIONED, Event, State
from server.cases.outbox import Backoff, IdempotentConsumer, OutboxDispatcher
from server.cases.service import CaseService
from server.cases.store import OutboxMessage, case_outbox
from server.storage.db import Database
from tests.alerts.helpers import serve
from tests.cases.conftest import APPROVERS
from tests.cases.helpers import case_at_gate

TOKEN = "exec-token-xyz"


@dataclass
class Endpoint:
    url: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    replies: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # consumed in order, then 200 ok


@asynccontextmanager
async def executor_endpoint() -> AsyncIterator[Endpoint]:
    endpoint = Endpoint(url="")

    async def handle(request: web.Request) -> web.Response:
        endpoint.calls.append(
            {
                "method": request.method,
                "authorization": request.headers.get("Authorization"),
                "idempotency_key": request.headers.get("Idempotency-Key"),
                "body": await request.json(),
            }
        )
        status, body = endpoint.replies.pop(0) if endpoint.replies else (200, {"ok": True, "revision": 41})
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/execute", handle)
    async with serve(app) as base:
        endpoint.url = f"{base}/execute"
        yield endpoint


def live_service(db: Database, url: str, *, dry_run: bool = False) -> CaseService:
    service = CaseService(db, approvers=APPROVERS, executor=ExecutorAdapter(url, TOKEN, dry_run=dry_run))
    service.dispatcher.backoff = Backoff(base_s=0.0)  # retry at once in tests
    return service


async def deliver_all(service: CaseService, rounds: int = 5) -> None:
    for _ in range(rounds):
        await service.dispatcher.dispatch_once()


async def test_idempotent_approval_executes_exactly_once(db: Database) -> None:
    async with executor_endpoint() as endpoint:
        service = live_service(db, endpoint.url)
        case = case_at_gate(service)
        first = service.approve(case.id, approver="owner:alice", challenge_passed=True,
                                expected_version=case.version, idempotency_key="approve-1")  # fmt: skip
        replay = service.approve(case.id, approver="owner:alice", challenge_passed=True,
                                 expected_version=case.version, idempotency_key="approve-1")  # fmt: skip
        assert replay.replayed and replay.to_dict() | {"replayed": False} == first.to_dict()
        await deliver_all(service)
    assert len(endpoint.calls) == 1
    call = endpoint.calls[0]
    assert call["method"] == "POST" and call["authorization"] == f"Bearer {TOKEN}"
    assert call["idempotency_key"] == f"case-{case.id}-v{first.version}"
    assert call["body"]["actions"] == [{"type": "k8s_rollout_undo", "namespace": "prod", "deployment": "api",
                                       "to_revision": None, "image": None}]  # fmt: skip
    done = service.get_case(case.id)
    assert done.status is State.VERIFYING
    succeeded = [t for t in service.timeline(case.id) if t.event == Event.EXECUTION_SUCCEEDED.value]
    assert len(succeeded) == 1 and succeeded[0].detail["response"]["revision"] == 41


async def test_transient_failure_is_retried_with_the_same_key(db: Database) -> None:
    async with executor_endpoint() as endpoint:
        endpoint.replies.append((503, {"error": "busy"}))
        service = live_service(db, endpoint.url)
        case = case_at_gate(service)
        service.approve(case.id, approver="owner:alice", challenge_passed=True)
        await deliver_all(service)
    assert len(endpoint.calls) == 2  # at least once: retried after the 503
    assert endpoint.calls[0]["idempotency_key"] == endpoint.calls[1]["idempotency_key"]
    assert service.get_case(case.id).status is State.VERIFYING
    (message,) = [m for m in service.store.outbox_messages(case.id) if m["msg_type"] == "case.execute"]
    assert message["attempts"] == 1 and message["delivered_at"] is not None


async def test_definitive_failure_parks_the_case(db: Database) -> None:
    async with executor_endpoint() as endpoint:
        endpoint.replies.append((409, {"ok": False, "error": "deployment api has no previous revision"}))
        service = live_service(db, endpoint.url)
        case = case_at_gate(service)
        service.approve(case.id, approver="owner:alice", challenge_passed=True)
        await deliver_all(service)
    parked = service.get_case(case.id)
    assert parked.status is State.PARKED and "no previous revision" in parked.reason
    assert len(endpoint.calls) == 1


async def test_dry_run_records_what_would_be_done(db: Database) -> None:
    async with executor_endpoint() as endpoint:
        service = live_service(db, endpoint.url, dry_run=True)
        case = case_at_gate(service)
        service.approve(case.id, approver="owner:alice", challenge_passed=True)
        await deliver_all(service)
    assert endpoint.calls == []  # nothing left the building
    entry = next(t for t in service.timeline(case.id) if t.event == Event.EXECUTION_SUCCEEDED.value)
    assert entry.detail["dry_run"] is True
    assert entry.detail["would_do"][0]["deployment"] == "api"


async def test_outbox_redelivery_acts_once_through_idempotent_consumer(db: Database) -> None:
    service = CaseService(db, approvers=APPROVERS)
    store = service.store
    raw_calls: list[int] = []
    acted: list[int] = []

    async def raw(msg: OutboxMessage) -> None:
        raw_calls.append(msg.id)

    async def act(msg: OutboxMessage) -> None:
        acted.append(msg.id)

    dispatcher = OutboxDispatcher(store, backoff=Backoff(base_s=0.0))
    dispatcher.register(MSG_TRANSITIONED, raw)
    dispatcher.register(MSG_TRANSITIONED, IdempotentConsumer(store, "speaker", act))
    case = service.create_case(owner="owner:alice", title="t")
    service.transition(case.id, Event.START_ANALYSIS, None, "tracer")
    assert await dispatcher.dispatch_once() >= 1
    # a crash after the consumers ran but before 'delivered' was recorded: the message comes round again
    with db.engine.begin() as c:
        c.execute(
            update(case_outbox).where(case_outbox.c.msg_type == MSG_TRANSITIONED).values(delivered_at=None)
        )
    await dispatcher.dispatch_once()
    (msg_id,) = set(raw_calls)
    assert raw_calls == [msg_id, msg_id]  # delivered twice (at least once) ...
    assert acted == [msg_id]  # ... acted on once


async def test_failing_consumer_is_retried_until_it_succeeds(db: Database) -> None:
    service = CaseService(db, approvers=APPROVERS)
    attempts: list[int] = []

    async def flaky(msg: OutboxMessage) -> None:
        attempts.append(msg.id)
        if len(attempts) < 3:
            raise ConnectionError("device offline")

    dispatcher = OutboxDispatcher(service.store, backoff=Backoff(base_s=0.0))
    dispatcher.register(MSG_TRANSITIONED, flaky)
    case = service.create_case(owner="owner:alice", title="t")
    service.transition(case.id, Event.START_ANALYSIS, None, "tracer")
    for _ in range(4):
        await dispatcher.dispatch_once()
    assert len(attempts) == 3
    (row,) = [m for m in service.store.outbox_messages(case.id) if m["msg_type"] == MSG_TRANSITIONED]
    assert (
        row["attempts"] == 2
        and row["delivered_at"] is not None
        and json.loads(row["payload"])["to_state"] == "ANALYZING"
    )


async def test_running_dispatcher_executes_after_wake(db: Database) -> None:
    async with executor_endpoint() as endpoint:
        service = live_service(db, endpoint.url)
        service.dispatcher.poll_interval_s = 30  # only wake() can make it deliver within the test
        service.start()
        try:
            case = case_at_gate(service)
            service.approve(case.id, approver="owner:alice", challenge_passed=True)
            for _ in range(500):  # up to 10 s on a loaded machine, still well inside the 30 s poll
                if service.get_case(case.id).status is State.VERIFYING:
                    break
                await asyncio.sleep(0.02)
        finally:
            await service.stop()
    assert service.get_case(case.id).status is State.VERIFYING and len(endpoint.calls) == 1


class _NothingDue:
    def claim_due(self, limit: int, lease_s: float) -> list[OutboxMessage]:
        return []


async def test_stop_is_not_lost_when_it_races_a_wake() -> None:
    # a transition wakes the dispatcher just as the service stops (asyncio.wait_for on 3.11 swallowed that
    # cancel, and stop() then waited forever: seen as a 300 s timeout of the test above on a loaded machine)
    for turns in range(4):
        dispatcher = OutboxDispatcher(_NothingDue(), poll_interval_s=30)  # type: ignore[arg-type]
        dispatcher.start()
        await asyncio.sleep(0.05)  # idle, waiting for a wake or the next poll
        dispatcher.wake()
        for _ in range(turns):
            await asyncio.sleep(0)
        stopping = asyncio.create_task(dispatcher.stop())
        done, _ = await asyncio.wait({stopping}, timeout=5)
        if not done:  # clean up the stuck dispatcher before failing
            task = dispatcher._task
            assert task is not None
            task.cancel()
            await stopping
        assert done, f"stop() hung after a wake {turns} loop turns earlier"


async def test_unreachable_executor_parks_after_bounded_retries(db: Database) -> None:
    async with executor_endpoint() as endpoint:
        endpoint.replies.extend([(503, {"error": "down"})] * 10)
        service = live_service(db, endpoint.url)
        service.max_execution_attempts = 3
        case = case_at_gate(service)
        service.approve(case.id, approver="owner:alice", challenge_passed=True)
        await deliver_all(service, rounds=6)
    assert len(endpoint.calls) == 3
    parked = service.get_case(case.id)
    assert parked.status is State.PARKED and "gave up" in parked.reason and "503" in parked.reason
