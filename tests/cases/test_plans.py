"""Plan validation: the same rules for deterministic, LLM and human proposals."""

from __future__ import annotations

import pytest

from server.cases.fsm import Risk
from server.cases.plans import PlanError, PlanPolicy, deterministic_plan, validate_plan

POLICY = PlanPolicy.from_mapping(
    endpoints={"restart-api": ["POST"], "health": ["GET"]}, scripts=["flush-cache"]
)


def test_rollout_undo_plan() -> None:
    plan = validate_plan(
        {
            "summary": "roll back api",
            "risk": "medium",
            "actions": [
                {"type": "k8s_rollout_undo", "namespace": "prod", "deployment": "api", "to_revision": 41}
            ],
            "rollback": {"kind": "k8s_revision", "namespace": "prod", "deployment": "api", "revision": 42},
        },
        POLICY,
        proposed_by="llm",
    )
    assert plan.risk is Risk.MEDIUM and plan.proposed_by == "llm" and plan.mutating


def test_whitelisted_http_and_script_actions() -> None:
    plan = validate_plan(
        {
            "summary": "restart and check",
            "risk": "low",
            "actions": [
                {"type": "http_call", "endpoint_id": "restart-api", "method": "post"},
                {"type": "http_call", "endpoint_id": "health", "method": "GET"},
                {"type": "script", "script_id": "flush-cache", "args": ["--all"]},
            ],
            "rollback": {"kind": "none", "reason": "restarts are harmless"},
        },
        POLICY,
    )
    assert [a.type for a in plan.actions] == ["http_call", "http_call", "script"]
    assert plan.actions[0].method == "POST"


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        ({"summary": "x", "risk": "low", "actions": []}, "actions"),
        ({"summary": "x", "risk": "extreme", "actions": [{"type": "noop", "reason": "r"}]}, "risk"),
        ({"summary": "x", "risk": "low", "actions": [{"type": "shell", "cmd": "rm -rf /"}]}, "actions.0"),
        (
            {"summary": "x", "risk": "low", "actions": [{"type": "http_call", "endpoint_id": "evil", "method": "POST"}],
             "rollback": {"kind": "none", "reason": "r"}},
            "not in the endpoint whitelist",
        ),
        (
            {"summary": "x", "risk": "low", "actions": [{"type": "http_call", "endpoint_id": "health", "method": "DELETE"}],
             "rollback": {"kind": "none", "reason": "r"}},
            "method 'DELETE' is not allowed",
        ),
        (
            {"summary": "x", "risk": "low", "actions": [{"type": "script", "script_id": "rm-all"}],
             "rollback": {"kind": "none", "reason": "r"}},
            "not in the script whitelist",
        ),
        (
            {"summary": "x", "risk": "medium", "actions": [{"type": "k8s_rollout_undo", "namespace": "prod", "deployment": "api"}]},
            "rollback target",
        ),
        (
            {"summary": "x", "risk": "medium",
             "actions": [{"type": "k8s_rollout_undo", "namespace": "Prod_NS", "deployment": "api"}],
             "rollback": {"kind": "none", "reason": "r"}},
            "actions.0.k8s_rollout_undo.namespace",
        ),
        ({"summary": "x", "risk": "low", "actions": [{"type": "noop", "reason": "r"}], "extra": 1}, "extra"),
        ("{not json", "not valid JSON"),
    ],
)  # fmt: skip
def test_invalid_plans_are_refused_with_clear_problems(plan, problem: str) -> None:
    with pytest.raises(PlanError) as exc:
        validate_plan(plan, POLICY)
    assert problem in str(exc.value)


def test_deterministic_proposals() -> None:
    rollback = deterministic_plan(namespace="prod", workload="api", to_revision=7)
    assert rollback.actions[0].type == "k8s_rollout_undo" and rollback.actions[0].to_revision == 7
    assert rollback.rollback is not None and rollback.risk is Risk.MEDIUM
    nothing = deterministic_plan(namespace=None, workload=None)
    assert nothing.actions[0].type == "noop" and not nothing.mutating
    stateful = deterministic_plan(namespace="prod", workload="db", workload_kind="statefulset")
    assert stateful.actions[0].type == "noop"
