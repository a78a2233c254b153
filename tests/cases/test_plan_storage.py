"""The plan is typed between modules and JSON only in storage: a stored plan reads back as the same ``Plan``, keeps
the digest approvals are pinned to, and an unreadable one is a clear error on that case, never a crash."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from server.cases.fsm import Risk, State
from server.cases.pinning import SpokenPlan, plan_digest, spoken_plan
from server.cases.plans import HttpCall, Plan, PlanError, PlanPolicy, deterministic_plan
from server.cases.service import CaseService
from server.cases.store import GuardRejected, StaticApprovers, cases
from server.storage.db import Database

# Plans as the pre-typed code (commit 145d1be) stored them in ``cases.plan``, with the digest that code computed
# (sha256 of ``json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)``) and
# the sentence it read aloud. Both must not change: a spoken approval is pinned to the digest.
STORED = [
    (
        '{"summary":"将 prod/payment-gateway 回滚到版本 3","risk":"medium","actions":[{"type":"k8s_rollout_undo",'
        '"namespace":"prod","deployment":"payment-gateway","to_revision":3,"image":"registry.example.com/pay:1.4.2"}],'
        '"rollback":{"kind":"k8s_revision","namespace":"prod","deployment":"payment-gateway","revision":null,'
        '"reason":""},"proposed_by":"deterministic","rationale":"镜像从 1.4.2 改成 1.5.0 后 5xx 上升"}',
        "72d3605baf6e1e6a6916012597b77fafd4907c64d7e6b7e3c177bcf7ab196ba3",
        "将要执行的方案是：把prod命名空间的payment-gateway回滚到第3个版本（镜像registry.example.com/pay:1.4.2）。"
        "风险等级：中。",
    ),
    (
        '{"summary":"暂无可自动执行的修复，建议人工排查","risk":"low","actions":[{"type":"noop","reason":'
        '"no rollback target identified"}],"rollback":null,"proposed_by":"deterministic","rationale":"no cause"}',
        "942c39823908363212f949389df6b2a2fc625de9f818edd5dfa7771bd8f52dba",
        "将要执行的方案是：不做任何操作。风险等级：低。",
    ),
    (
        '{"summary":"恢复配置 prod/pay-config 的上一版本","risk":"medium","actions":[{"type":"k8s_restore_config",'
        '"namespace":"prod","resource":"configmaps","name":"pay-config","data":{"TIMEOUT_MS":"3000","模式":"严格"},'
        '"restart":"pay"}],"rollback":{"kind":"config_data","namespace":null,"deployment":null,"revision":null,'
        '"reason":"re-apply"},"proposed_by":"deterministic","rationale":"ConfigMap 被修改"}',
        "e61b049e530498f5f5c0cc00720ad0394a0f1b4d03808ecd6c0f3309e9adb90b",
        # (the pre-typed code read this plan's summary: its action is now read, see the test below)
        "将要执行的方案是：把prod命名空间的配置pay-config恢复成之前的内容，并重启pay。风险等级：中。",
    ),
    (
        '{"summary":"重启 api 并清缓存","risk":"high","actions":[{"type":"http_call","endpoint_id":"restart-api",'
        '"method":"POST","body":{"reason":"告警 #12","ratio":0.25,"n":3,"flags":[true,null],"nested":{"x":1e-7}}},'
        '{"type":"script","script_id":"flush-cache","args":["--all","ü"]}],"rollback":{"kind":"none",'
        '"namespace":null,"deployment":null,"revision":null,"reason":"stateless"},"proposed_by":"llm",'
        '"rationale":"LLM says so"}',
        "ea8e913733554345106e6db902a5ed93d94411912363d59394e80c8777df4005",
        "将要执行的方案是：调用接口restart-api（POST），然后运行脚本flush-cache。风险等级：高。",
    ),
]


def _legacy_digest(text: str) -> str:
    canonical = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(("text", "digest", "said"), STORED)
def test_a_stored_plan_reads_back_typed_with_its_digest_and_sentence_unchanged(
    text: str, digest: str, said: str
) -> None:
    plan = Plan.from_json(text)  # http_call/script ids need no whitelist to be read back
    assert isinstance(plan, Plan)
    assert plan_digest(plan) == digest == _legacy_digest(text)
    assert plan.to_dict() == json.loads(text) and Plan.from_json(plan.to_json()) == plan
    assert spoken_plan(plan) == said


def _service(tmp_path: Path, policy: PlanPolicy | None = None) -> CaseService:
    db = Database.sqlite(tmp_path / "plans.sqlite3")
    db.create_all()
    return CaseService(db, approvers=StaticApprovers({"owner:alice": Risk.HIGH}), plan_policy=policy)


def _stored_text(service: CaseService, case_id: int) -> str:
    with service.store.db.engine.connect() as c:
        text = c.execute(select(cases.c.plan).where(cases.c.id == case_id)).scalar_one()
    assert isinstance(text, str)
    return text


def _overwrite(service: CaseService, case_id: int, text: str) -> None:
    with service.store.db.engine.begin() as c:
        c.execute(update(cases).where(cases.c.id == case_id).values(plan=text))


def test_the_case_carries_a_typed_plan_whose_digest_is_that_of_its_stored_json(tmp_path: Path) -> None:
    service = _service(tmp_path)
    case = service.create_case(owner="alice", title="t")
    service.propose_plan(
        case.id, deterministic_plan(namespace="prod", workload="api", to_revision=2), actor="t"
    )
    gate = service.get_case(case.id)
    assert gate is not None and isinstance(gate.plan, Plan) and gate.plan_error == ""
    assert gate.plan.actions[0].type == "k8s_rollout_undo" and gate.plan.risk is Risk.MEDIUM
    text = _stored_text(service, case.id)
    assert SpokenPlan.of(gate).digest == _legacy_digest(text)
    assert gate.to_dict()["plan"] == json.loads(text)  # the wire form is the stored JSON object
    service.store.db.dispose()


def test_a_plan_stored_before_the_whitelist_changed_still_reads_but_cannot_be_approved(
    tmp_path: Path,
) -> None:
    text = STORED[3][0]
    policy = PlanPolicy.from_mapping({"restart-api": ["POST"]}, ["flush-cache"])
    service = _service(tmp_path, policy)
    case = service.create_case(owner="alice", title="t")
    service.propose_plan(case.id, text, actor="owner:alice", proposed_by="llm")
    # the whitelist no longer holds the endpoint (another process, restarted with new settings)
    later = CaseService(service.store.db, approvers=StaticApprovers({"owner:alice": Risk.HIGH}))
    gate = later.get_case(case.id)
    assert gate is not None and gate.plan is not None and isinstance(gate.plan.actions[0], HttpCall)
    with pytest.raises(GuardRejected, match="restart-api"):
        later.approve(case.id, approver="owner:alice", challenge_passed=True)
    assert later.get_case(case.id).status is State.WAIT_GATE  # type: ignore[union-attr]
    service.store.db.dispose()


@pytest.mark.parametrize(
    ("garbage", "why"),
    [("{not json", "not valid JSON"), ('{"summary": "x", "risk": "extreme", "actions": []}', "risk")],
)
def test_an_unreadable_stored_plan_is_a_clear_error_on_that_case_not_a_crash(
    tmp_path: Path, garbage: str, why: str
) -> None:
    service = _service(tmp_path)
    bad = service.create_case(owner="alice", title="bad")
    good = service.create_case(owner="alice", title="good")
    for c in (bad, good):
        service.propose_plan(c.id, deterministic_plan(namespace="prod", workload="api"), actor="t")
    _overwrite(service, bad.id, garbage)

    listed = {c.id: c for c in service.list_cases()}  # the other case is unaffected
    assert listed[good.id].plan is not None and listed[good.id].plan_error == ""
    broken = listed[bad.id]
    assert (
        broken.plan is None and "stored plan cannot be read" in broken.plan_error and why in broken.plan_error
    )
    assert broken.to_dict()["plan"] is None and broken.to_dict()["plan_error"] == broken.plan_error
    assert SpokenPlan.of(broken).digest == "" and "没有" in spoken_plan(broken.plan)
    with pytest.raises(GuardRejected, match=why):
        service.approve(bad.id, approver="owner:alice", challenge_passed=True)
    assert service.get_case(bad.id).status is State.WAIT_GATE  # type: ignore[union-attr]
    service.store.db.dispose()


def test_a_plan_corrupted_after_approval_fails_the_execution_with_the_reason(tmp_path: Path) -> None:
    service = _service(tmp_path)
    case = service.create_case(owner="alice", title="t")
    service.propose_plan(case.id, deterministic_plan(namespace="prod", workload="api"), actor="t")
    approved = service.approve(case.id, approver="owner:alice", challenge_passed=True)
    assert approved.to_state is State.EXECUTING
    _overwrite(service, case.id, "{not json")
    result = asyncio.run(service.execute(case.id, execution_key=f"case-{case.id}-v{approved.version}"))
    assert result is not None and result.to_state is not State.EXECUTING
    after = service.get_case(case.id)
    assert after is not None and "stored plan cannot be read" in after.reason
    service.store.db.dispose()


def test_reading_a_stored_plan_checks_its_schema() -> None:
    with pytest.raises(PlanError, match="actions"):
        Plan.from_json('{"summary": "x", "risk": "low", "actions": []}')
    with pytest.raises(PlanError, match="JSON object"):
        Plan.from_json("[1, 2]")


def test_a_config_restore_is_read_from_its_action_not_from_the_proposers_summary() -> None:
    text = STORED[2][0].replace("恢复配置 prod/pay-config 的上一版本", "无害的检查")
    said = spoken_plan(Plan.from_json(text))
    assert "无害" not in said and "pay-config" in said and "prod" in said and "重启pay" in said
    unrestarted = Plan.from_json(text.replace('"restart":"pay"', '"restart":null'))
    assert "重启" not in spoken_plan(unrestarted) and "pay-config" in spoken_plan(unrestarted)
