"""CaseStore.transition through CaseService: versions, legality, idempotency, atomicity and the approval gate."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server.cases import store as store_module
from server.cases.fsm import MSG_EXECUTE, Event, State
from server.cases.plans import PlanError
from server.cases.service import CaseService
from server.cases.store import (
    ConflictError,
    GuardRejected,
    IdempotencyKeyReused,
    IllegalTransition,
    case_outbox,
    case_timeline,
    idempotency_keys,
)
from tests.cases.helpers import case_at_gate


def counts(service: CaseService) -> tuple[int, int, int]:
    with service.store.db.engine.connect() as c:
        return tuple(
            c.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (case_timeline, case_outbox, idempotency_keys)
        )  # type: ignore[return-value]


def test_create_and_walk_to_gate(service: CaseService) -> None:
    case = case_at_gate(service)
    assert case.status is State.WAIT_GATE and case.version == 4  # NEW→ANALYZING→PLANNING→WAIT_GATE
    assert case.plan.actions[0].type == "k8s_rollout_undo" and case.plan_risk == "medium"
    events = [t.event for t in service.timeline(case.id)]
    assert events == ["", "start_analysis", "analysis_done", "plan_proposed"]


def test_version_conflict(service: CaseService) -> None:
    case = case_at_gate(service)
    before = counts(service)
    with pytest.raises(ConflictError) as exc:
        service.deny(case.id, actor="owner:alice", reason="不用回滚", expected_version=case.version - 1)
    assert exc.value.status == 409
    assert service.get_case(case.id).status is State.WAIT_GATE and counts(service) == before


def test_illegal_transition(service: CaseService) -> None:
    case = service.create_case(owner="owner:alice", title="t")
    with pytest.raises(IllegalTransition) as exc:
        service.transition(case.id, Event.VERIFIED, case.version, "owner:alice")
    assert exc.value.status == 409 and "not allowed in state NEW" in str(exc.value)
    closed = case_at_gate(service, workload="web")
    service.deny(closed.id, actor="owner:alice", reason="no")
    service.transition(closed.id, Event.CLOSE, None, "owner:alice", payload={"reason": "archived"})
    for event in Event:
        with pytest.raises(IllegalTransition):
            service.transition(closed.id, event, None, "owner:alice", payload={"reason": "x"})


def test_idempotency_key_replay_returns_first_result(service: CaseService) -> None:
    case = case_at_gate(service)
    first = service.deny(
        case.id, actor="owner:alice", reason="不用回滚", expected_version=case.version, idempotency_key="k-1"
    )
    after_first = counts(service)
    # a retried request (same key, now-stale version) gets the same answer and changes nothing
    again = service.deny(
        case.id, actor="owner:alice", reason="不用回滚", expected_version=case.version, idempotency_key="k-1"
    )
    assert again.replayed and not first.replayed
    assert (again.timeline_id, again.version, again.to_state) == (
        first.timeline_id,
        first.version,
        State.PARKED,
    )
    assert counts(service) == after_first
    with pytest.raises(IdempotencyKeyReused):
        service.transition(case.id, Event.REOPEN, None, "owner:alice", idempotency_key="k-1")


def test_timeline_and_outbox_are_atomic(service: CaseService, monkeypatch: pytest.MonkeyPatch) -> None:
    case = case_at_gate(service)
    before = counts(service)

    def broken_outbox(*args, **kwargs):
        raise RuntimeError("disk full while writing the outbox")

    monkeypatch.setattr(store_module, "_write_outbox", broken_outbox)
    with pytest.raises(RuntimeError, match="disk full"):
        service.approve(case.id, approver="owner:alice", challenge_passed=True, idempotency_key="k-atomic")
    # state, version, timeline entry, outbox message and idempotency key: none of them was written
    after = service.get_case(case.id)
    assert (after.status, after.version) == (State.WAIT_GATE, case.version)
    assert counts(service) == before
    monkeypatch.undo()
    result = service.approve(
        case.id, approver="owner:alice", challenge_passed=True, idempotency_key="k-atomic"
    )
    assert result.to_state is State.EXECUTING and not result.replayed


@pytest.mark.parametrize(
    ("approver", "challenge", "message"),
    [
        ("owner:alice", False, "challenge"),
        ("owner:carol", True, "no approval rights"),  # an owner without rights
        ("owner:bob", True, "exceeds"),  # may approve low-risk plans only; this one is medium
        ("llm", True, "only propose"),
        ("", True, "identified approver"),
    ],
)
def test_approval_refused(service: CaseService, approver: str, challenge: bool, message: str) -> None:
    case = case_at_gate(service)
    with pytest.raises(GuardRejected, match=message):
        service.approve(case.id, approver=approver, challenge_passed=challenge)
    after = service.get_case(case.id)
    assert after.status is State.WAIT_GATE and after.version == case.version
    refused = service.timeline(case.id)[-1]
    assert refused.kind == "refused" and message in refused.detail["error"]  # the attempt is audited
    assert not [m for m in service.store.outbox_messages(case.id) if m["msg_type"] == MSG_EXECUTE]


def test_approval_writes_execute_message(service: CaseService) -> None:
    case = case_at_gate(service)
    result = service.approve(case.id, approver="owner:alice", challenge_passed=True)
    assert result.to_state is State.EXECUTING
    execute = [m for m in service.store.outbox_messages(case.id) if m["msg_type"] == MSG_EXECUTE]
    assert len(execute) == 1 and execute[0]["id"] in result.outbox_ids


def test_spoken_deny_parks_with_reason(service: CaseService) -> None:
    case = case_at_gate(service)
    result = service.deny(case.id, actor="owner:alice", reason="不用回滚，先观察")
    parked = service.get_case(case.id)
    assert result.to_state is State.PARKED and parked.status is State.PARKED
    assert parked.reason == "不用回滚，先观察"
    assert service.timeline(case.id)[-1].detail["reason"] == "不用回滚，先观察"
    with pytest.raises(GuardRejected, match="reason"):
        service.deny(case_at_gate(service, workload="web").id, actor="owner:alice", reason=" ")


def test_invalid_plans_never_reach_the_gate(service: CaseService) -> None:
    case = service.create_case(owner="owner:alice", title="t")
    bad = {"summary": "x", "risk": "low", "actions": [{"type": "script", "script_id": "rm-rf"}]}
    with pytest.raises(PlanError, match="script whitelist"):
        service.propose_plan(case.id, bad, actor="llm", proposed_by="llm")
    assert service.get_case(case.id).status is State.NEW
    # the raw transition path re-validates too
    service.transition(case.id, Event.START_ANALYSIS, None, "tracer")
    service.transition(case.id, Event.ANALYSIS_DONE, None, "tracer")
    with pytest.raises(GuardRejected, match="plan rejected"):
        service.transition(case.id, Event.PLAN_PROPOSED, None, "llm", payload={"plan": bad})
    assert service.get_case(case.id).status is State.PLANNING


def test_verify_outcomes(service: CaseService) -> None:
    def executing_to_verifying() -> int:
        case = case_at_gate(service)
        service.approve(case.id, approver="owner:alice", challenge_passed=True)
        service.transition(case.id, Event.EXECUTION_SUCCEEDED, None, "executor")
        return case.id

    a, b, c = executing_to_verifying(), executing_to_verifying(), executing_to_verifying()
    assert service.verify(a, recovered=True).to_state is State.CLOSED
    assert service.verify(b, error_rate_before=0.2, error_rate_after=0.01).to_state is State.CLOSED
    assert (
        service.verify(c, recovered=False, error_rate_before=0.2, error_rate_after=0.19).to_state
        is State.PARKED
    )
    assert "did not fall" in service.get_case(c).reason
