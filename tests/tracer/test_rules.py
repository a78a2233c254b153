"""Each cause rule on its own: a positive case and a near-miss that must not match (or must match differently)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agents.evidence import Evidence
from agents.tracer import rules
from agents.tracer.context import Change, Ctx
from agents.tracer.model import CauseKind, UndoKind

T = 1_780_000_000.0  # the alarm
NS, W = "billing", "invoice-svc"
POD = f"{W}-7fd9c5b4x8-k2p4q"
NODE = "10.2.7.41"


def ev(
    dt: float, kind: str, message: str, *, level: str = "ERROR", reason: str = "", obj: str = "", ns: str = NS,
    workload: str = W, host: str = "", user: str = "", verb: str = "", resource: str = "", detail: Any = None,
) -> Evidence:  # fmt: skip
    return Evidence(T + dt, kind, level, ns, workload, POD if kind != "audit" else "", obj or f"Pod/{POD}", user,
                    reason, verb, resource, host, -1, message, message, detail or {})  # fmt: skip


def biz(dt: float, msg: str, n: int = 5) -> list[Evidence]:
    return [ev(dt + i * 20, "business", msg) for i in range(n)]


def warn(dt: float, reason: str, msg: str, n: int = 3, **kw: Any) -> list[Evidence]:
    return [
        ev(dt + i * 30, "event", msg, level="WARN", reason=reason, host=kw.pop("host", NODE), **kw)
        for i in range(n)
    ]


def change(dt: float, resource: str, name: str, *, user: str = "kate.morris", verb: str = "patch", ns: str = NS,
           **detail: Any) -> Change:  # fmt: skip
    wl = name if resource in ("deployments", "statefulsets") else ""
    return Change(ev(dt, "audit", f"{verb} {resource}/{name}", level="INFO", reason="change", obj=f"{resource}/{name}",
                     ns=ns, workload=wl, user=user, verb=verb, resource=resource, detail=detail))  # fmt: skip


def ctx(**kw: Any) -> Ctx:
    c = Ctx(T, NS, W, POD, "alarm", ZoneInfo("Asia/Shanghai"), (T - 1800, T + 300))
    for k, v in kw.items():
        setattr(c, k, v)
    c.own = sorted(c.own, key=lambda e: e.ts)
    c.events = sorted(c.events, key=lambda e: e.ts)
    firsts = [e.ts for e in c.own[:1] + c.warnings[:1]]
    c.onset = min(firsts) if firsts else None
    c.hosts = sorted({e.host for e in c.events if e.host} | set(kw.get("hosts", [])))
    return c


IMG_OLD, IMG_BAD = (
    "ccr.ccs.tencentyun.com/acme/invoice-svc:v4.2.0",
    "ccr.ccs.tencentyun.com/acme/invoice-svc:v5.0.0-rc1",
)
PULL = [
    f'Failed to pull image "{IMG_BAD}": rpc error: code = NotFound',
    f'Back-off pulling image "{IMG_BAD}"',
]


def test_bad_image_rollback_targets_the_changed_deployment() -> None:
    c = change(-900, "deployments", W, images={W: IMG_BAD})
    c.old_images = {W: IMG_OLD}
    cause = rules.BadImageRule().match(
        ctx(events=warn(-800, "Failed", PULL[0]) + warn(-700, "BackOff", PULL[1]), changes=[c])
    )
    assert cause is not None and cause.kind is CauseKind.BAD_IMAGE and cause.actor == "kate.morris"
    assert cause.undo.kind is UndoKind.ROLLBACK_IMAGE and cause.undo.target == f"deployments/{W}"
    assert cause.undo.image == IMG_OLD


def test_bad_image_near_miss_change_on_another_deployment_is_not_rolled_back() -> None:
    other = change(-900, "deployments", "cart-api", images={"cart-api": IMG_BAD})
    cause = rules.BadImageRule().match(ctx(events=warn(-800, "Failed", PULL[0]), changes=[other]))
    assert cause is not None and cause.kind is CauseKind.IMAGE_PULL
    assert cause.undo.kind is UndoKind.MANUAL  # no rollback of an innocent deployment


AUTH = "Access denied for user 'invoice'@'10.244.1.7' (using password: YES)"


def test_secret_change_before_auth_errors() -> None:
    c = change(-1200, "secrets", "db-credentials", user="system:serviceaccount:ci:ci-bot", verb="update")
    cause = rules.SecretChangeRule().match(ctx(own=biz(-1100, AUTH), changes=[c]))
    assert (
        cause is not None
        and cause.kind is CauseKind.SECRET_CHANGE
        and cause.object == "secrets/db-credentials"
    )
    assert cause.slots["actor"] == "ci-bot 服务账号"
    assert cause.undo.kind is UndoKind.MANUAL and cause.undo.target == "secrets/db-credentials"


def test_secret_changed_after_the_errors_began_is_not_the_cause() -> None:
    c = change(-300, "secrets", "db-credentials")
    assert rules.SecretChangeRule().match(ctx(own=biz(-1100, AUTH), changes=[c])) is None


CONF_ERR = (
    "failed to load configuration from /etc/app/config.yaml: yaml: line 3: mapping values are not allowed"
)


def test_config_change_restores_the_previous_content() -> None:
    old = change(-9000, "configmaps", "runtime-settings", verb="update", config={"config.yaml": "retries: 3\n"},
                 config_complete=True)  # fmt: skip
    new = change(-1000, "configmaps", "runtime-settings", verb="update", config={"config.yaml": "retries: x\n"},
                 config_complete=True)  # fmt: skip
    deploy = change(-20000, "deployments", W, user="system:serviceaccount:argocd:argocd-application-controller",
                    refs=["configmaps/runtime-settings"])  # fmt: skip
    restart = change(-950, "deployments", W)  # a rollout restart: a change to the deployment, an innocent one
    cause = rules.ConfigChangeRule().match(
        ctx(own=biz(-900, CONF_ERR), changes=[new, restart], history=[old, deploy])
    )
    assert cause is not None and cause.kind is CauseKind.CONFIG_CHANGE
    assert cause.undo.kind is UndoKind.RESTORE_CONFIG and cause.undo.target == "configmaps/runtime-settings"
    assert (
        cause.undo.data == {"config.yaml": "retries: 3\n"} and cause.confidence >= 0.85
    )  # linked by reference


def test_config_change_in_another_namespace_is_not_linked() -> None:
    other = change(-1000, "configmaps", "runtime-settings", ns="crm", config={"a": "b"})
    assert rules.ConfigChangeRule().match(ctx(own=biz(-900, CONF_ERR), changes=[other])) is None
    # errors that are not about configuration, without crashes, do not blame a ConfigMap either
    near = change(-1000, "configmaps", "runtime-settings", config={"a": "b"})
    assert (
        rules.ConfigChangeRule().match(ctx(own=biz(-900, "request timed out after 30s"), changes=[near]))
        is None
    )


FORBID = 'pods is forbidden: User "system:serviceaccount:billing:invoice-svc-sa" cannot list resource "pods" in API group "" in the namespace "billing"'


def test_rbac_change_before_permission_errors() -> None:
    c = change(-1500, "rolebindings", "pod-reader-binding", verb="delete", user="wang.lei")
    cause = rules.RbacChangeRule().match(ctx(own=biz(-1400, FORBID), changes=[c]))
    assert (
        cause is not None
        and cause.kind is CauseKind.RBAC_CHANGE
        and cause.object == "rolebindings/pod-reader-binding"
    )
    assert cause.slots["sa"] == "invoice-svc-sa 服务账号" and cause.undo.kind is UndoKind.MANUAL


def test_permission_errors_without_an_rbac_change_are_not_blamed_on_rbac() -> None:
    c = change(-1500, "configmaps", "feature-flags")
    assert rules.RbacChangeRule().match(ctx(own=biz(-1400, FORBID), changes=[c])) is None


QUOTA = 'Error creating: pods "invoice-svc-5d8-x2x9k" is forbidden: exceeded quota: compute-quota, requested: limits.cpu=2'


def test_quota_exceeded_names_the_quota_and_who_lowered_it() -> None:
    c = change(-2000, "resourcequotas", "compute-quota")
    cause = rules.QuotaRule().match(
        ctx(events=warn(-600, "FailedCreate", QUOTA, obj=f"ReplicaSet/{W}-5d8"), changes=[c])
    )
    assert (
        cause is not None and cause.object == "resourcequotas/compute-quota" and cause.actor == "kate.morris"
    )


def test_failed_create_for_another_reason_is_not_a_quota() -> None:
    other = 'Error creating: pods "x" is forbidden: error looking up service account billing/invoice-sa: not found'
    assert rules.QuotaRule().match(ctx(events=warn(-600, "FailedCreate", other))) is None


def test_missing_storage_class() -> None:
    e = warn(
        -600,
        "ProvisioningFailed",
        'storageclass.storage.k8s.io "ssd-premium" not found',
        obj="PersistentVolumeClaim/data-x-0",
    )
    cause = rules.StorageClassRule().match(ctx(events=e))
    assert cause is not None and cause.object == "storageclasses/ssd-premium"
    near = warn(-600, "ProvisioningFailed", "waiting for a volume to be created by external provisioner")
    assert rules.StorageClassRule().match(ctx(events=near)) is None


def test_eviction_is_linked_to_the_node_it_happened_on() -> None:
    node = [ev(-700, "event", "Attempting to reclaim ephemeral-storage", level="WARN", reason="EvictionThresholdMet",
               obj=f"Node/{NODE}", ns="", workload="", host=NODE)]  # fmt: skip
    evicted = warn(-650, "Evicted", "The node was low on resource: ephemeral-storage.", n=2)
    cause = rules.NodeRule().match(ctx(events=evicted, node_events=node))
    assert cause is not None and cause.kind is CauseKind.NODE_PRESSURE and cause.object == f"Node/{NODE}"
    assert cause.slots["why"] == "disk" and cause.confidence >= 0.8


def test_trouble_on_another_node_without_pod_symptoms_is_not_blamed() -> None:
    node = [ev(-700, "event", "Node 10.9.9.9 status is now: NodeNotReady", level="WARN", reason="NodeNotReady",
               obj="Node/10.9.9.9", ns="", workload="", host="10.9.9.9")]  # fmt: skip
    assert rules.NodeRule().match(ctx(own=biz(-600, "upstream timeout"), node_events=node)) is None


DNS = "dial tcp: lookup orders-db.billing.svc.cluster.local on 10.96.0.10:53: read udp 10.244.1.7:41234->10.96.0.10:53: i/o timeout"


def test_dns_failures_hop_to_coredns() -> None:
    core = [ev(-800, "event", "Back-off restarting failed container coredns", level="WARN", reason="BackOff",
               obj="Pod/coredns-5d78c9869d-x2x9k", ns="kube-system", workload="coredns")]  # fmt: skip
    cause = rules.DnsRule().match(ctx(own=biz(-700, DNS), system_events=core))
    assert cause is not None and cause.object == "kube-system/coredns" and cause.slots["why"] == "crash"
    assert rules.DnsRule().match(ctx(own=biz(-700, "cache lookup miss for key user:42"))) is None


def test_expired_certificate_is_a_cause() -> None:
    msg = (
        'Post "https://api.paylink-partner.com/v2/charge": x509: certificate has expired or is not yet valid'
    )
    cause = rules.CertRule().match(ctx(own=biz(-700, msg)))
    assert cause is not None and cause.object == "host/api.paylink-partner.com"
    assert (
        rules.CertRule().match(ctx(own=biz(-700, "certificate for api.x.com will expire in 10 days"))) is None
    )


REFUSED = "dial tcp session-redis.data.svc.cluster.local:6379: connect: connection refused"


def test_refused_connections_hop_to_the_named_service() -> None:
    redis = [ev(-900, "event", "Back-off restarting failed container redis", level="WARN", reason="BackOff",
                obj="Pod/session-redis-0", ns="data", workload="session-redis")]  # fmt: skip
    cause = rules.UpstreamRule().match(ctx(own=biz(-800, REFUSED), upstream={"session-redis": redis}))
    assert cause is not None and cause.object == "data/session-redis" and cause.slots["why"] == "crash"
    bare = "dial tcp 10.96.14.3:6379: connect: connection refused"  # no service named: no hop
    assert rules.UpstreamRule().match(ctx(own=biz(-800, bare))) is None


def _oom(limit_before: str, limit_after: str) -> Ctx:
    before = change(-20000, "deployments", W, memory_limits={W: limit_before})
    after = change(-1000, "deployments", W, memory_limits={W: limit_after})
    kills = [ev(-900 + i * 60, "event", "Memory cgroup out of memory: Killed process 4242 (java)", level="WARN",
                reason="OOMKilling", obj=f"Node/{NODE}", ns="", workload="", host=NODE) for i in range(3)]  # fmt: skip
    return ctx(events=warn(-880, "BackOff", "Back-off restarting failed container"), node_events=kills,
               changes=[after], history=[before])  # fmt: skip


def test_lowered_memory_limit_then_oom_rolls_back_the_revision() -> None:
    cause = rules.OomRule().match(_oom("512Mi", "128Mi"))
    assert cause is not None and cause.kind is CauseKind.RESOURCE_LIMITS
    assert cause.undo.kind is UndoKind.ROLLBACK_REVISION and cause.undo.target == f"deployments/{W}"


def test_raised_memory_limit_is_not_the_cause_of_oom() -> None:
    cause = rules.OomRule().match(_oom("128Mi", "1Gi"))
    assert cause is not None and cause.kind is CauseKind.OOM_KILL and cause.undo.kind is UndoKind.MANUAL


PROBE = "Readiness probe failed: HTTP probe failed with statuscode: 404"


def test_probe_change_then_failures() -> None:
    c = change(-1000, "deployments", W, probes={f"{W}.readinessProbe": '{"httpGet": {"path": "/ready"}}'})
    cause = rules.ProbeChangeRule().match(ctx(events=warn(-900, "Unhealthy", PROBE, n=4), changes=[c]))
    assert (
        cause is not None
        and cause.kind is CauseKind.PROBE_CHANGE
        and cause.undo.kind is UndoKind.ROLLBACK_REVISION
    )
    assert rules.ProbeChangeRule().match(ctx(events=warn(-900, "Unhealthy", PROBE, n=2), changes=[c])) is None


def test_crash_after_a_new_image_rolls_the_image_back() -> None:
    c = change(-1000, "deployments", W, images={W: IMG_BAD})
    c.old_images = {W: IMG_OLD}
    crash = warn(-900, "BackOff", "Back-off restarting failed container invoice-svc")
    cause = rules.CrashAfterImageRule().match(ctx(events=crash, changes=[c]))
    assert cause is not None and cause.undo.kind is UndoKind.ROLLBACK_IMAGE and cause.undo.image == IMG_OLD
    other = change(-1000, "deployments", "cart-api", images={"cart-api": IMG_BAD})
    assert rules.CrashAfterImageRule().match(ctx(events=crash, changes=[other])) is None


def test_scale_down_then_saturation() -> None:
    c = change(-1000, "deployments", W, replicas=1)
    scaled = [ev(-995, "event", f"Scaled down replica set {W}-7fd9c5b4x8 to 1 from 6", level="INFO",
                 reason="ScalingReplicaSet", obj=f"Deployment/{W}")]  # fmt: skip
    cause = rules.ScaledDownRule().match(
        ctx(own=biz(-900, "request queue full, rejecting", n=8), events=scaled, changes=[c])
    )
    assert cause is not None and cause.kind is CauseKind.SCALED_DOWN and cause.undo.kind is UndoKind.MANUAL
    up = change(-1000, "deployments", W, replicas=8)  # a scale-up is not a cause of saturation
    assert (
        rules.ScaledDownRule().match(ctx(own=biz(-900, "request queue full, rejecting", n=8), changes=[up]))
        is None
    )


@pytest.mark.parametrize("rule", rules.RULES, ids=lambda r: r.name)
def test_no_rule_fires_on_a_quiet_workload(rule: rules.Rule) -> None:
    quiet = ctx(own=biz(-600, "client closed connection before response", n=1),
                changes=[change(-1000, "deployments", "cart-api", images={"cart-api": IMG_BAD})])  # fmt: skip
    assert rule.match(quiet) is None


def test_config_change_picks_the_configmap_the_errors_name_not_a_later_innocent_one() -> None:
    real = change(-1000, "configmaps", "runtime-settings", config={"config.yaml": "retries: x\n"})
    decoy = change(-980, "configmaps", "feature-flags", config={"panel.json": "{}"})  # later, unrelated keys
    cause = rules.ConfigChangeRule().match(ctx(own=biz(-900, CONF_ERR), changes=[real, decoy]))
    assert cause is not None and cause.object == "configmaps/runtime-settings"


def test_auth_errors_blame_the_credentials_secret_not_a_renewed_tls_certificate() -> None:
    real = change(-1200, "secrets", "db-credentials", verb="update")
    tls = change(
        -1150, "secrets", "ingress-tls", verb="update", user="system:serviceaccount:cert-manager:cert-manager"
    )
    cause = rules.SecretChangeRule().match(ctx(own=biz(-1100, AUTH), changes=[real, tls]))
    assert cause is not None and cause.object == "secrets/db-credentials"
