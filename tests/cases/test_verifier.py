"""A case whose action did not make the alert recover ends PARKED after the verification deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.cases.fsm import Event, State
from server.cases.service import CaseService
from server.cases.verifier import sweep
from tests.cases.helpers import case_at_gate


def verifying(service: CaseService, workload: str) -> int:
    case = case_at_gate(service, workload=workload)
    service.approve(case.id, approver="owner:alice", challenge_passed=True)
    executing = service.get_case(case.id)
    service.transition(case.id, Event.EXECUTION_SUCCEEDED, executing.version, "executor")
    assert service.get_case(case.id).status is State.VERIFYING
    return case.id


def test_deadline_parks_unrecovered_and_closes_recovered_cases(service: CaseService) -> None:
    stuck, healed = verifying(service, "api"), verifying(service, "web")
    recovered = {stuck: False, healed: True}
    assert sweep(service, recovered.get, timeout_s=600) == []  # too early: nothing decided
    later = datetime.now(UTC) + timedelta(minutes=11)
    assert sorted(sweep(service, recovered.get, timeout_s=600, now=later)) == sorted([stuck, healed])
    assert service.get_case(stuck).status is State.PARKED
    assert service.get_case(healed).status is State.CLOSED
    failed = [t for t in service.timeline(stuck) if t.event == Event.VERIFICATION_FAILED.value]
    assert failed and failed[0].actor == "verifier"
    assert sweep(service, recovered.get, timeout_s=600, now=later) == []  # decided cases are left alone
