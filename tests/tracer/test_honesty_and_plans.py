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


def _e(dt: float, kind: str, msg: str, **kw: object) -> object:
    from agents.evidence import Evidence

    base: dict[str, object] = dict(ts=AT + dt, kind=kind, level="ERROR", namespace="shop", workload="", pod="",
                                   object="", user="", reason="", verb="", resource="", host="", tid=-1,
                                   message=msg, raw=msg, detail={})  # fmt: skip
    base.update(kw)
    return Evidence(**base)  # type: ignore[arg-type]


def test_errors_naming_a_broken_callee_hop_to_its_cause_and_never_roll_back_the_caller() -> None:
    bad = "ccr.ccs.tencentyun.com/shop/pricing-api:v3.0.0-rc9"
    items = [
        # the caller had a routine rollout by a bot just before: innocent
        _e(-1300, "audit", "patch deployments/web-shop", level="INFO", workload="web-shop", user="system:serviceaccount:ci:ci-bot",
           reason="change", verb="patch", resource="deployments", object="deployments/web-shop",
           detail={"images": {"web-shop": "ccr.ccs.tencentyun.com/shop/web-shop:v8.1.2"}}),
        # the callee's image was changed by a person, and cannot be pulled
        _e(-1250, "audit", "patch deployments/pricing-api", level="INFO", workload="pricing-api", user="liu.yang",
           reason="change", verb="patch", resource="deployments", object="deployments/pricing-api",
           detail={"images": {"pricing-api": bad}}),
        *[_e(-1200 + 30 * i, "event", f'Failed: Failed to pull image "{bad}": not found', level="WARN", reason="Failed",
             workload="pricing-api", object="Pod/pricing-api-6c9f7d8b5-x2x9k", pod="pricing-api-6c9f7d8b5-x2x9k",
             resource="Pod") for i in range(4)],
        *[_e(-1100 + 20 * i, "business", "GET http://pricing-api.shop.svc:8080/v1/quote returned 503 from pricing-api",
             workload="web-shop", pod="web-shop-5b7c9d6f4-q8w2z") for i in range(12)],
    ]  # fmt: skip
    keys = AlertKeys.build(AT, namespace="shop", workload="web-shop", title="web-shop 5xx")
    t = trace(keys, MemoryEvidence(items))  # type: ignore[arg-type]
    assert t.found and t.cause == "bad_image" and t.details["via_callee"] == "pricing-api"
    assert t.rollback is not None and t.rollback.deployment == "pricing-api" and t.changed_by == "liu.yang"
    assert "web-shop" in t.root_cause_zh and "pricing-api" in t.root_cause_zh
    plan = plan_from_trace(t)
    assert plan.actions[0].type == "k8s_rollout_undo" and plan.actions[0].deployment == "pricing-api"
