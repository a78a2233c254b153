"""Kubernetes-event agent: Warning reasons grouped by class and workload.

Event reasons are ambiguous on their own (kubelet uses ``BackOff`` for both image-pull and restart back-off, and
``Failed`` for image pulls and container starts), so the class is decided from reason *and* message. OOM kills
come from node-problem-detector on the Node; they are tied to a workload through the restart back-offs of its
pods on the same node at the same time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agents.findings import Finding
from agents.log_agents.common import (
    DAY_BINS,
    MAX_EXAMPLES,
    AgentResult,
    DayClock,
    Miner,
    TemplateStats,
    clean_text,
)
from agents.records import LogKind, LogRecord

_IMAGE = re.compile(r'image "([^"\s]{1,300})"')
_STORAGE_CLASS = re.compile(r'storageclass\.storage\.k8s\.io "([^"]{1,100})" not found')
_INSUFFICIENT = re.compile(r"Insufficient ([a-z0-9./-]{0,40}[a-z0-9])")
_KILLED = re.compile(r"Killed process \d+ \(([^)]{1,60})\)")
_PVC_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?-(\d+)$")
OOM_LINK_SECONDS = 900
MAX_TIMES = 2000

HPA_REASONS = frozenset(
    {"FailedGetResourceMetric", "FailedComputeMetricsReplicas", "FailedGetExternalMetric",
     "FailedGetPodsMetric", "FailedGetObjectMetric", "FailedGetContainerResourceMetric"}
)  # fmt: skip
VOLUME_REASONS = frozenset({"ProvisioningFailed", "FailedMount", "FailedAttachVolume", "FailedBinding"})
OOM_REASONS = frozenset({"OOMKilling", "SystemOOM"})
NODE_PRESSURE_REASONS = frozenset(
    {"EvictionThresholdMet", "NodeNotReady", "NodeHasDiskPressure", "NodeHasMemoryPressure", "NodeHasPIDPressure",
     "FreeDiskSpaceFailed", "ImageGCFailed"}
)  # fmt: skip

# class → (severity, English label, Chinese phrase)
CLASSES: dict[str, tuple[str, str, str]] = {
    "image_pull": ("high", "Image pull failing", "拉取镜像失败"),
    "oom_kill": ("critical", "OOM-killed and restarting", "内存溢出被杀后反复重启"),
    "crash_loop": ("high", "Container restart back-off (CrashLoop)", "容器反复重启"),
    "insufficient_resources": ("high", "Unschedulable: insufficient resources", "资源不足无法调度"),
    "unbound_pvc": ("high", "Volume not bound / provisioning failed", "存储卷无法绑定"),
    "scheduling": ("medium", "Unschedulable", "无法调度"),
    "hpa_metrics": ("medium", "HPA cannot get metrics", "HPA 获取不到指标"),
    "probe_failure": ("low", "Probe failures", "健康检查失败"),
    "node_oom": ("high", "Kernel OOM kills on node", "节点发生内存溢出"),
    "eviction": ("high", "Pods evicted", "Pod 被驱逐"),
    "node_pressure": ("high", "Node under pressure or not ready", "节点资源紧张或失联"),
    "other": ("low", "Warning events", "出现告警事件"),
}


def classify(reason: str, text: str) -> str:
    """The class of one Warning event from its reason and message (exact kubelet/scheduler strings)."""
    if reason == "BackOff":
        return "image_pull" if "pulling image" in text else "crash_loop"
    if reason == "Failed":
        if (
            "pull image" in text
            or "ErrImagePull" in text
            or "ImagePullBackOff" in text
            or "InvalidImageName" in text
        ):
            return "image_pull"
        return "crash_loop"
    if reason in ("ErrImageNeverPull", "InspectFailed"):
        return "image_pull"
    if reason == "FailedScheduling":
        if "unbound immediate PersistentVolumeClaims" in text or "persistentvolumeclaim" in text.lower():
            return "unbound_pvc"
        if "Insufficient " in text:
            return "insufficient_resources"
        return "scheduling"
    if reason in VOLUME_REASONS:
        return "unbound_pvc"
    if reason in HPA_REASONS:
        return "hpa_metrics"
    if reason == "Unhealthy":
        return "probe_failure"
    if reason in OOM_REASONS:
        return "node_oom"
    if reason in ("Evicted", "TaintManagerEviction", "Preempted"):
        return "eviction"  # the pod was killed for its node's sake: never low severity
    if reason in NODE_PRESSURE_REASONS:
        return "node_pressure"
    return "other"


def workload_of_object(obj: str, known: set[str]) -> str:
    """Workload for objects the parser leaves without one: PVC ``data-mongo-0`` → ``mongo``, HPA → its target."""
    kind, _, name = obj.partition("/")
    if kind == "HorizontalPodAutoscaler":
        return name
    if kind == "PersistentVolumeClaim" and _PVC_NAME.match(name):
        stem = name.rsplit("-", 1)[0]
        for w in sorted(known, key=len, reverse=True):
            if stem.endswith("-" + w):
                return w
        return stem.split("-", 1)[1] if "-" in stem else stem
    return ""


@dataclass
class Group:
    cls: str
    namespace: str
    workload: str
    object_kind: str
    count: int = 0
    first_ts: float = float("inf")
    last_ts: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    objects: dict[str, int] = field(default_factory=dict)
    hosts: set[str] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    storage_classes: set[str] = field(default_factory=set)
    resources: set[str] = field(default_factory=set)
    processes: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)
    messages: dict[str, int] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)


class EventAgent:
    kind = LogKind.EVENT

    def __init__(self, clock: DayClock) -> None:
        self.clock = clock
        self.start = clock.start
        self.stats = TemplateStats(LogKind.EVENT, clock)
        self.groups: dict[tuple[str, str, str], Group] = {}
        self.reasons: dict[str, int] = {}
        self.workload_seen: set[str] = set()

    def observe(self, rec: LogRecord, tid: int) -> None:
        self.stats.add(rec, tid)
        if rec.workload:
            self.workload_seen.add(rec.workload)
        fields = rec.fields
        reason = fields.get("reason", "")
        if rec.level == "INFO" and reason not in OOM_REASONS:
            return
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        msg = rec.message
        text = msg[len(reason) + 2 :] if reason and msg.startswith(reason + ": ") else msg
        cls = classify(reason, text)
        wl = rec.workload or ("" if cls == "node_oom" else f"?{rec.object}")
        key = (cls, rec.namespace, wl if cls != "node_oom" else rec.object)
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = Group(cls, rec.namespace, wl, rec.object.partition("/")[0])
        n = 1
        g.count += n
        ts = rec.ts
        g.first_ts = min(g.first_ts, ts)
        g.last_ts = max(g.last_ts, ts)
        g.reasons[reason] = g.reasons.get(reason, 0) + n
        if len(g.objects) < 50 or rec.object in g.objects:
            g.objects[rec.object] = g.objects.get(rec.object, 0) + n
        host = fields.get("host") or ""
        if host:
            g.hosts.add(host)
        if len(g.times) < MAX_TIMES:
            g.times.append(ts)
        short = clean_text(text, 300)
        if len(g.messages) < 20 or short in g.messages:
            g.messages[short] = g.messages.get(short, 0) + n
        if len(g.examples) < MAX_EXAMPLES:
            g.examples.append(clean_text(rec.raw or msg))
        if cls == "image_pull":
            m = _IMAGE.search(text)
            if m and len(g.images) < 5:
                g.images.add(m.group(1))
        elif cls == "unbound_pvc":
            m = _STORAGE_CLASS.search(text)
            if m:
                g.storage_classes.add(m.group(1))
        elif cls == "insufficient_resources":
            g.resources.update(_INSUFFICIENT.findall(text)[:4])
        elif cls == "node_oom":
            m = _KILLED.search(text)
            if m and len(g.processes) < 5:
                g.processes.add(m.group(1))

    @property
    def workloads(self) -> set[str]:
        return set(self.workload_seen)

    def finish(self, miner: Miner, known: set[str] | None = None) -> AgentResult:
        known = (known or set()) | self.workload_seen
        self.stats.canonicalize(miner)
        result = AgentResult(LogKind.EVENT, templates=self.stats.templates(miner))
        groups = self._resolve(known)
        self._link_ooms(groups)
        bins: dict[str, list[int]] = {}
        classes: dict[str, list[str]] = {}
        for g in groups:
            if g.cls == "node_oom" and g.count == 0:
                continue
            result.findings.append(self._finding(g))
            if g.workload and not g.workload.startswith("?"):
                acc = bins.setdefault(g.workload, [0] * DAY_BINS)
                for ts in g.times:
                    b = int((ts - self.start) // 300)
                    acc[0 if b < 0 else DAY_BINS - 1 if b >= DAY_BINS else b] += 1
                classes.setdefault(g.workload, []).append(g.cls)
        result.findings.sort(key=lambda f: (_SEV_RANK[f.severity], -f.count))
        for f in result.findings:
            if f.severity in ("critical", "high"):
                result.timeline.append(
                    {"ts": f.first_ts, "kind": "event", "what": f.title, "workload": f.workload, "id": f.id}
                )
        result.signals = {"warning_bins": bins, "classes": classes, "reasons": dict(self.reasons)}
        return result

    def _resolve(self, known: set[str]) -> list[Group]:
        """Give objects without a parsed workload (PVCs, HPAs) one, merging groups that then coincide."""
        merged: dict[tuple[str, str, str], Group] = {}
        for (cls, ns, _), g in self.groups.items():
            if g.workload.startswith("?"):
                obj = g.workload[1:]
                g.workload = workload_of_object(obj, known) or f"?{obj}"
            key = (cls, ns, g.workload if cls != "node_oom" else next(iter(g.objects), ""))
            if key in merged:
                _merge(merged[key], g)
            else:
                merged[key] = g
        return list(merged.values())

    def _link_ooms(self, groups: list[Group]) -> None:
        """A workload whose restart back-offs happen on a node right after kernel OOM kills there was OOM-killed."""
        ooms = [g for g in groups if g.cls == "node_oom"]
        for g in groups:
            if g.cls != "crash_loop" or not g.hosts:
                continue
            linked = 0
            for o in ooms:
                if not (
                    g.hosts & o.hosts or any(obj.endswith("/" + h) for obj in o.objects for h in g.hosts)
                ):
                    continue
                for t in o.times:
                    if g.first_ts - OOM_LINK_SECONDS <= t <= g.last_ts + OOM_LINK_SECONDS:
                        linked += 1
            if linked:
                g.cls = "oom_kill"
                g.processes = set().union(*(o.processes for o in ooms if g.hosts & o.hosts))
                g.reasons["OOMKilling"] = linked
                for o in ooms:
                    if g.hosts & o.hosts:
                        o.cls = "node_oom_linked"

    def _finding(self, g: Group) -> Finding:
        cls = g.cls if g.cls in CLASSES else "node_oom" if g.cls == "node_oom_linked" else "other"
        severity, label, zh = CLASSES[cls]
        if g.cls == "node_oom_linked":
            severity = "medium"
        if cls in ("probe_failure", "other") and g.count >= 10:
            severity = "medium"
        wl = g.workload if not g.workload.startswith("?") else ""
        obj_label = wl or g.workload.lstrip("?") or next(iter(g.objects), "")
        where = f"{g.namespace}/{obj_label}" if g.namespace else obj_label
        reasons = ", ".join(f"{r} x{n}" for r, n in sorted(g.reasons.items(), key=lambda kv: -kv[1]))
        title = f"{label} for {where} ({reasons})"
        subject = wl or obj_label
        summary = f"{subject} {zh}，共 {g.count} 次告警事件。"
        evidence: dict[str, Any] = {
            "class": cls,
            "reasons": dict(g.reasons),
            "objects": dict(sorted(g.objects.items(), key=lambda kv: -kv[1])[:10]),
            "top_messages": dict(sorted(g.messages.items(), key=lambda kv: -kv[1])[:3]),
            "hosts": sorted(g.hosts)[:10],
        }
        if g.images:
            evidence["images"] = sorted(g.images)
            tags = sorted({i.rsplit(":", 1)[-1] for i in g.images if ":" in i.rsplit("/", 1)[-1]})
            evidence["image_tags"] = tags
            title += f": {', '.join(sorted(g.images))}"
            if tags:
                summary = f"{subject} 拉取镜像 {'、'.join(tags)} 失败，共 {g.count} 次告警事件。"
        if g.storage_classes:
            evidence["storage_classes"] = sorted(g.storage_classes)
            title += f": storageclass {', '.join(sorted(g.storage_classes))} not found"
            summary = f"{subject} 的存储卷无法绑定，存储类 {'、'.join(sorted(g.storage_classes))} 不存在。"
        if g.resources:
            evidence["resources"] = sorted(g.resources)
            res_zh = "、".join(
                "内存" if r == "memory" else "CPU" if r == "cpu" else r for r in sorted(g.resources)
            )
            title += f": insufficient {', '.join(sorted(g.resources))}"
            summary = f"{subject} 因节点{res_zh}不足无法调度，共 {g.count} 次。"
        if g.processes:
            evidence["processes"] = sorted(g.processes)
        if cls == "oom_kill":
            evidence["oom_kills"] = g.reasons.get("OOMKilling", 0)
        return Finding(
            kind=LogKind.EVENT,
            category="k8s_warning",
            severity=severity,
            title=title,
            summary_zh=summary,
            count=g.count,
            namespace=g.namespace,
            workload=wl,
            object=next(iter(sorted(g.objects, key=lambda o: -g.objects[o])), ""),
            first_ts=g.first_ts if g.count else 0.0,
            last_ts=g.last_ts,
            examples=list(g.examples),
            evidence=evidence,
        )


_SEV_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def _merge(a: Group, b: Group) -> None:
    a.count += b.count
    a.first_ts = min(a.first_ts, b.first_ts)
    a.last_ts = max(a.last_ts, b.last_ts)
    for src, dst in ((b.reasons, a.reasons), (b.objects, a.objects), (b.messages, a.messages)):
        for k, v in src.items():
            dst[k] = dst.get(k, 0) + v
    a.hosts |= b.hosts
    a.images |= b.images
    a.storage_classes |= b.storage_classes
    a.resources |= b.resources
    a.processes |= b.processes
    a.examples = (a.examples + b.examples)[:MAX_EXAMPLES]
    a.times = (a.times + b.times)[:MAX_TIMES]
