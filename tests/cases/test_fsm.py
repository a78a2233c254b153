"""The case FSM decision, exhaustively over every (state, event) pair."""

from __future__ import annotations

import itertools

import pytest

from server.cases.fsm import (
    MSG_EXECUTE,
    MSG_TRANSITIONED,
    Event,
    GuardContext,
    Risk,
    State,
    allowed_events,
    decide,
)

S, E = State, Event
# The product's intended table, written out independently of the implementation.
SPEC: dict[tuple[State, Event], State] = {
    (S.NEW, E.START_ANALYSIS): S.ANALYZING,
    (S.ANALYZING, E.ANALYSIS_DONE): S.PLANNING,
    (S.PLANNING, E.PLAN_PROPOSED): S.WAIT_GATE,
    (S.WAIT_GATE, E.APPROVE): S.EXECUTING,
    (S.WAIT_GATE, E.DENY): S.PARKED,
    (S.WAIT_GATE, E.REPLAN): S.PLANNING,
    (S.EXECUTING, E.EXECUTION_SUCCEEDED): S.VERIFYING,
    (S.EXECUTING, E.EXECUTION_FAILED): S.PARKED,
    (S.VERIFYING, E.VERIFIED): S.CLOSED,
    (S.VERIFYING, E.VERIFICATION_FAILED): S.PARKED,
    (S.PARKED, E.REOPEN): S.ANALYZING,
    (S.PARKED, E.CLOSE): S.CLOSED,
    **{
        (s, E.PARK): S.PARKED for s in (S.NEW, S.ANALYZING, S.PLANNING, S.WAIT_GATE, S.EXECUTING, S.VERIFYING)
    },
}

ALL_GUARDS_PASS = GuardContext(
    plan_valid=True,
    plan_risk=Risk.MEDIUM,
    approver="owner:alice",
    approver_can_approve=True,
    approver_max_risk=Risk.HIGH,
    challenge_passed=True,
    reason="operator decision",
)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(State, Event)))
def test_every_pair(state: State, event: Event) -> None:
    d = decide(state, event, ALL_GUARDS_PASS)
    expected = SPEC.get((state, event))
    if expected is None:
        assert not d.ok and d.kind == "illegal" and d.error
        assert d.messages == ()
    else:
        assert d.ok and d.next_state is expected and d.error == ""
        assert MSG_TRANSITIONED in d.messages
        assert (MSG_EXECUTE in d.messages) == (event is E.APPROVE)


def test_executing_only_from_wait_gate_by_approve() -> None:
    entries = [
        (s, e)
        for s, e in itertools.product(State, Event)
        if decide(s, e, ALL_GUARDS_PASS).next_state is S.EXECUTING
    ]
    assert entries == [(S.WAIT_GATE, E.APPROVE)]


def test_closed_is_terminal_and_allowed_events_match() -> None:
    assert allowed_events(S.CLOSED) == []
    for s in State:
        assert set(allowed_events(s)) == {e for (st, e) in SPEC if st is s}


def test_plan_must_be_valid_before_wait_gate() -> None:
    d = decide(
        S.PLANNING, E.PLAN_PROPOSED, GuardContext(plan_valid=False, plan_error="actions: field required")
    )
    assert not d.ok and d.kind == "guard" and "actions: field required" in d.error


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"approver": ""}, "identified approver"),
        ({"approver": "llm", "approver_is_ai": True}, "only propose"),
        ({"approver_can_approve": False}, "no approval rights"),
        ({"challenge_passed": False}, "challenge"),
        ({"plan_valid": False, "plan_risk": None}, "valid plan"),
        ({"plan_risk": Risk.HIGH, "approver_max_risk": Risk.MEDIUM}, "exceeds"),
        ({"approver_max_risk": None}, "exceeds"),
    ],
)
def test_approval_guards(change: dict, message: str) -> None:
    fields = {k: getattr(ALL_GUARDS_PASS, k) for k in GuardContext.__slots__}
    d = decide(S.WAIT_GATE, E.APPROVE, GuardContext(**{**fields, **change}))
    assert not d.ok and d.kind == "guard" and message in d.error


@pytest.mark.parametrize(("state", "event"), [(S.WAIT_GATE, E.DENY), (S.NEW, E.PARK), (S.PARKED, E.CLOSE)])
def test_reason_required(state: State, event: Event) -> None:
    d = decide(state, event, GuardContext(reason="  "))
    assert not d.ok and d.kind == "guard" and "reason" in d.error


def test_unknown_names_are_illegal_not_crashes() -> None:
    assert decide("NOPE", "approve").kind == "illegal"
    assert decide("NEW", "explode").kind == "illegal"
    assert decide("NEW", "start_analysis").next_state is S.ANALYZING  # plain strings work
