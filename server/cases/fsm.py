"""The case state machine as a pure function: ``decide(state, event, context) -> Decision``.

No I/O here. ``CaseStore.transition`` builds the ``GuardContext`` from the stored case, the payload and the approver
directory, asks ``decide`` and persists the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    NEW = "NEW"
    ANALYZING = "ANALYZING"
    PLANNING = "PLANNING"
    WAIT_GATE = "WAIT_GATE"
    EXECUTING = "EXECUTING"
    VERIFYING = "VERIFYING"
    CLOSED = "CLOSED"
    PARKED = "PARKED"


class Event(StrEnum):
    START_ANALYSIS = "start_analysis"
    ANALYSIS_DONE = "analysis_done"
    PLAN_PROPOSED = "plan_proposed"
    REPLAN = "replan"
    APPROVE = "approve"
    DENY = "deny"
    EXECUTION_SUCCEEDED = "execution_succeeded"
    EXECUTION_FAILED = "execution_failed"
    VERIFIED = "verified"
    VERIFICATION_FAILED = "verification_failed"
    PARK = "park"
    REOPEN = "reopen"
    CLOSE = "close"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return ("low", "medium", "high").index(self.value)


TERMINAL = frozenset({State.CLOSED})

# Unguarded edges. Guarded ones (plan_proposed, approve, deny, park, close) are checked in ``decide``.
_EDGES: dict[tuple[State, Event], State] = {
    (State.NEW, Event.START_ANALYSIS): State.ANALYZING,
    (State.ANALYZING, Event.ANALYSIS_DONE): State.PLANNING,
    (State.PLANNING, Event.PLAN_PROPOSED): State.WAIT_GATE,
    (State.WAIT_GATE, Event.REPLAN): State.PLANNING,
    (State.WAIT_GATE, Event.APPROVE): State.EXECUTING,
    (State.WAIT_GATE, Event.DENY): State.PARKED,
    (State.EXECUTING, Event.EXECUTION_SUCCEEDED): State.VERIFYING,
    (State.EXECUTING, Event.EXECUTION_FAILED): State.PARKED,
    (State.VERIFYING, Event.VERIFIED): State.CLOSED,
    (State.VERIFYING, Event.VERIFICATION_FAILED): State.PARKED,
    (State.PARKED, Event.REOPEN): State.ANALYZING,
    (State.PARKED, Event.CLOSE): State.CLOSED,
}
# any non-terminal, non-parked state can be parked
for _s in State:
    if _s not in TERMINAL and _s is not State.PARKED:
        _EDGES[(_s, Event.PARK)] = State.PARKED

# outbox message types a successful transition emits (side effects happen only from the outbox)
MSG_TRANSITIONED = "case.transitioned"
MSG_EXECUTE = "case.execute"

AI_ACTORS = frozenset({"llm", "ai", "agent", "assistant"})


@dataclass(frozen=True, slots=True)
class GuardContext:
    plan_valid: bool = False
    plan_error: str = ""
    plan_risk: Risk | None = None
    approver: str = ""
    approver_is_ai: bool = False
    approver_can_approve: bool = False
    approver_max_risk: Risk | None = None
    challenge_passed: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    next_state: State | None = None
    error: str = ""
    kind: str = ""  # "" on success; "illegal" (no such edge) or "guard" (edge exists, guard refused)
    messages: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.next_state is not None


def _refuse(message: str) -> Decision:
    return Decision(error=message, kind="guard")


def decide(state: State | str, event: Event | str, ctx: GuardContext | None = None) -> Decision:
    ctx = ctx or GuardContext()
    try:
        st, ev = State(state), Event(event)
    except ValueError as exc:
        return Decision(error=str(exc), kind="illegal")
    target = _EDGES.get((st, ev))
    if target is None:
        why = "is terminal" if st in TERMINAL else "does not accept it"
        return Decision(error=f"event '{ev}' is not allowed in state {st} ({st} {why})", kind="illegal")

    if ev is Event.PLAN_PROPOSED and not ctx.plan_valid:
        return _refuse(f"plan rejected: {ctx.plan_error or 'plan missing or invalid'}")
    if ev is Event.APPROVE:
        if not ctx.approver:
            return _refuse("approval needs an identified approver")
        if ctx.approver_is_ai:
            return _refuse("an AI actor may only propose, never approve")
        if not ctx.approver_can_approve:
            return _refuse(f"approver '{ctx.approver}' has no approval rights")
        if not ctx.challenge_passed:
            return _refuse("approval needs a passed spoken challenge")
        if ctx.plan_risk is None or not ctx.plan_valid:
            return _refuse("approval needs a valid plan" + (f" ({ctx.plan_error})" if ctx.plan_error else ""))
        if ctx.approver_max_risk is None or ctx.plan_risk.rank > ctx.approver_max_risk.rank:
            return _refuse(
                f"plan risk '{ctx.plan_risk}' exceeds what '{ctx.approver}' may approve "
                f"('{ctx.approver_max_risk or 'none'}')"
            )
    if ev in (Event.DENY, Event.PARK, Event.CLOSE) and not ctx.reason.strip():
        return _refuse(f"event '{ev}' needs a reason")

    messages = (MSG_TRANSITIONED, MSG_EXECUTE) if ev is Event.APPROVE else (MSG_TRANSITIONED,)
    return Decision(next_state=target, messages=messages)


def allowed_events(state: State | str) -> list[Event]:
    st = State(state)
    return [ev for (s, ev) in _EDGES if s is st]
