"""No logs is said as such; plans act only on the causal object; another alarm policy is another case."""

from __future__ import annotations

from pathlib import Path

from agents.evidence import EvidenceWriter, MemoryEvidence, StoreSet
from agents.tracer import AlertKeys, CauseKind, Trace, Undo, UndoKind, render_spoken, trace
from server.alerts.models import group_key_of
from server.cases.plans import plan_from_trace

AT = 1_780_000_000.0


def _keys() -> AlertKeys:
    return AlertKeys.build(
        AT, namespace="billing", workload="invoice-svc", title="invoice-svc error rate high"
    )


def test_no_store_for_the_day_is_no_logs_never_no_errors(tmp_path: Path) -> None:
    stores = StoreSet.for_window(tmp_path, "ops-team", AT - 1800, AT + 300)
    t = trace(_keys(), stores)
    assert t.cause == CauseKind.NO_LOGS.value and not t.found and t.confidence == 0.0
    assert "没有日志" in t.root_cause_zh and "不代表没有问题" in t.root_cause_zh
    assert "ops-team" in t.root_cause_zh and str(tmp_path / "evidence") in t.root_cause_zh  # whose, and where
    assert "没有报错" not in t.root_cause_zh
    spoken = "".join(render_spoken(t))
    assert "没有日志" in spoken and "回滚" not in spoken
    plan = plan_from_trace(t)
    assert not plan.mutating


def test_a_store_built_from_zero_lines_is_no_logs_too(tmp_path: Path) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    day = datetime.fromtimestamp(AT, ZoneInfo("Asia/Shanghai")).date().isoformat()
    with EvidenceWriter.for_day(tmp_path, "ops-team", day):
        pass
    stores = StoreSet.for_window(tmp_path, "ops-team", AT - 1800, AT + 300)
    try:
        assert trace(_keys(), stores).cause == CauseKind.NO_LOGS.value
    finally:
        stores.close()
    assert trace(_keys(), MemoryEvidence([])).cause == CauseKind.NO_LOGS.value


def _trace_with(undo: Undo) -> Trace:
    return Trace(keys=_keys(), window=(AT - 1800, AT + 300), cause="config_change", found=True, confidence=0.9,
                 root_cause_zh="x 修改了配置 runtime-settings", root_cause_en="", fix_zh=undo.manual_zh, fix_en="",
                 namespace="billing", workload="invoice-svc", undo=undo)  # fmt: skip


def test_config_cause_restores_the_configmap_and_never_rolls_back_the_deployment() -> None:
    undo = Undo(UndoKind.RESTORE_CONFIG, "billing", "configmaps/runtime-settings", data={"config.yaml": "retries: 3\n"},
                manual_zh="恢复配置 runtime-settings 的上一版本")  # fmt: skip
    plan = plan_from_trace(_trace_with(undo))
    assert [a.type for a in plan.actions] == ["k8s_restore_config"]
    action = plan.actions[0]
    assert action.type == "k8s_restore_config"
    assert (action.namespace, action.name, action.data) == (
        "billing",
        "runtime-settings",
        {"config.yaml": "retries: 3\n"},
    )
    assert plan.mutating and plan.rollback is not None


def test_image_cause_rolls_back_that_deployment_to_the_previous_image() -> None:
    img = "ccr.ccs.tencentyun.com/acme/invoice-svc:v4.2.0"
    plan = plan_from_trace(
        _trace_with(Undo(UndoKind.ROLLBACK_IMAGE, "billing", "deployments/invoice-svc", image=img))
    )
    action = plan.actions[0]
    assert action.type == "k8s_rollout_undo" and action.deployment == "invoice-svc" and action.image == img


def test_a_cause_without_a_safe_undo_proposes_no_action_and_names_the_object() -> None:
    undo = Undo(
        UndoKind.MANUAL,
        "billing",
        "secrets/db-credentials",
        manual_zh="恢复 Secret db-credentials 的上一版凭据",
    )
    plan = plan_from_trace(_trace_with(undo))
    assert not plan.mutating and "secrets/db-credentials" in plan.actions[0].reason  # type: ignore[union-attr]
    # a config change whose previous content the audit log does not hold: no guessing, no action
    plan = plan_from_trace(
        _trace_with(Undo(UndoKind.RESTORE_CONFIG, "billing", "configmaps/runtime-settings"))
    )
    assert not plan.mutating


def test_another_alarm_policy_on_the_same_workload_is_another_group() -> None:
    a = {"cluster": "cls-1", "namespace": "billing", "workload_kind": "Deployment", "workload": "invoice-svc"}
    pod1, pod2 = {**a, "pod": "invoice-svc-7fd9c5b4x8-k2p4q"}, {**a, "pod": "invoice-svc-7fd9c5b4x8-zz9wq"}
    # pods of one workload under one policy: one group (one case)
    assert group_key_of("tencent:policy-oom", pod1) == group_key_of("tencent:policy-oom", pod2)
    # a second policy on the same workload (e.g. 5xx after the OOM case was opened): its own group, its own case
    assert group_key_of("tencent:policy-oom", pod1) != group_key_of("tencent:policy-5xx", pod1)
    assert group_key_of("alertmanager:KubePodCrashLooping", a) != group_key_of(
        "alertmanager:HighErrorRate", a
    )
