from __future__ import annotations

from server.cases.plans import deterministic_plan
from server.cases.service import CaseService
from server.cases.store import Case


def case_at_gate(service: CaseService, *, workload: str = "api") -> Case:
    """A case with a validated rollback plan waiting for approval."""
    case = service.create_case(
        owner="owner:alice", title=f"prod/{workload} 5xx 激增", resource=f"prod/deployment/{workload}"
    )
    service.propose_plan(case.id, deterministic_plan(namespace="prod", workload=workload), actor="tracer")
    gate = service.get_case(case.id)
    assert gate is not None
    return gate
