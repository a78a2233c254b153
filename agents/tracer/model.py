"""The tracer's typed results: a `Cause` (what changed or failed, who, when, the evidence) and the `Undo` that
reverses it. Plain dataclasses; the server turns an `Undo` into a validated plan (``server.cases.plans``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class CauseKind(StrEnum):
    # causes that are a change somebody made
    BAD_IMAGE = "bad_image"  # image changed to one that cannot be pulled
    CRASH_AFTER_CHANGE = "crash_after_change"  # new image/template, containers crash
    CONFIG_CHANGE = "config_change"  # a ConfigMap the workload reads was changed
    SECRET_CHANGE = "secret_change"  # a Secret / credential was rotated or changed
    RBAC_CHANGE = "rbac_change"  # a Role / RoleBinding the workload's service account needs was changed
    RESOURCE_LIMITS = "resource_limits"  # memory limit lowered, then OOM kills
    PROBE_CHANGE = "probe_change"  # the pod template's probes changed, then probe failures
    SCALED_DOWN = "scaled_down"  # replicas / HPA bounds lowered, then saturation
    SCALE_BEYOND_CAPACITY = "scale_beyond_capacity"
    QUOTA_EXCEEDED = "quota_exceeded"
    MISSING_STORAGE_CLASS = "missing_storage_class"
    # causes that are a state of the platform or a dependency
    NODE_PRESSURE = "node_pressure"  # eviction, NotReady, disk/memory pressure on the node the pods ran on
    DISK_FULL = "disk_full"
    DNS_FAILURE = "dns_failure"  # cluster DNS (coredns) failing
    CERT_EXPIRED = "cert_expired"
    UPSTREAM_DOWN = "upstream_down"  # a service this workload calls is down
    OOM_KILL = "oom_kill"
    IMAGE_PULL = "image_pull"
    CRASH_LOOP = "crash_loop"
    INSUFFICIENT_RESOURCES = "insufficient_resources"
    VOLUME = "volume"
    HPA_METRICS = "hpa_metrics"
    PROBE_FAILURE = "probe_failure"
    SCHEDULING = "scheduling"
    BAD_RELEASE = "bad_release"
    # no cause
    NONE = "none"
    NO_LOGS = "no_logs"  # nothing to reason over: said as such, never as "no errors"


class UndoKind(StrEnum):
    ROLLBACK_IMAGE = "rollback_image"  # set the previous image again (Deployment rollout undo to it)
    ROLLBACK_REVISION = "rollback_revision"  # undo the last template change of a Deployment
    RESTORE_CONFIG = "restore_config"  # put the previous ConfigMap data back
    MANUAL = "manual"  # nothing safe to automate: say what a person should do


@dataclass(frozen=True)
class Undo:
    """What reverses the cause. Only the causal object is ever named as a target."""

    kind: UndoKind
    namespace: str = ""
    target: str = ""  # "deployments/<name>" | "configmaps/<name>" | the object a manual fix is about
    image: str = ""  # ROLLBACK_IMAGE: the previous image
    data: dict[str, str] = field(default_factory=dict)  # RESTORE_CONFIG: the previous data
    manual_zh: str = ""  # the fix in words (always set)

    @property
    def actionable(self) -> bool:
        return self.kind is not UndoKind.MANUAL

    @property
    def target_name(self) -> str:
        return self.target.rpartition("/")[2]


@dataclass(frozen=True)
class Cause:
    kind: CauseKind
    object: str  # the causal object: "configmaps/x", "Node/10.0.0.5", "kube-system/coredns", "host/api.x.com"
    namespace: str = ""
    actor: str = ""  # who made the change ("" for platform states)
    when: float = 0.0  # epoch seconds of the change or first symptom
    evidence: tuple[str, ...] = ()  # a few quoted lines (untrusted text, never spoken)
    confidence: float = 0.5
    undo: Undo = field(default_factory=lambda: Undo(UndoKind.MANUAL))
    slots: dict[str, str] = field(default_factory=dict)  # names for the sentence templates (already safe)

    @property
    def object_name(self) -> str:
        return self.object.rpartition("/")[2]


__all__ = ["Cause", "CauseKind", "Undo", "UndoKind"]
