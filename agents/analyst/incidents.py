"""The day's incidents: findings grouped per workload, each traced to its cause over the day's evidence store,
merged when they share a cause (coredns failing hits many services: one incident), ranked by impact.

The nightly summary speaks these, so it names every cause the tracer can name, with speakable names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from agents.evidence import StoreSet
from agents.findings import Finding
from agents.report import DayIncident, DayReport
from agents.tracer import AlertKeys, CauseKind, Trace, safe_name, trace
from agents.tracer.model import Cause
from agents.tracer.speech import _WHY_ZH, _Slots

log = logging.getLogger(__name__)

SEV_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
INCIDENT_CATEGORIES = frozenset({"error_spike", "spike", "k8s_warning", "change_before_errors"})
MAX_INCIDENTS = 12
LEAD_S = 600.0  # trace as if alarmed this long after the first symptom

SHORT_ZH: dict[CauseKind, str] = {
    CauseKind.BAD_IMAGE: "{actor}把镜像改成 {tag}，拉取失败",
    CauseKind.IMAGE_PULL: "镜像 {tag} 拉取失败",
    CauseKind.CRASH_AFTER_CHANGE: "{actor}发布新镜像 {tag} 后反复崩溃",
    CauseKind.CONFIG_CHANGE: "{actor}改了配置 {obj}，解析出错",
    CauseKind.SECRET_CHANGE: "{actor}改了 Secret {obj}，认证失败",
    CauseKind.RBAC_CHANGE: "{actor}{verb}{kind_zh} {obj}，权限被拒",
    CauseKind.QUOTA_EXCEEDED: "配额 {obj} 用完，建不出 Pod",
    CauseKind.MISSING_STORAGE_CLASS: "存储类 {sc} 不存在，Pod 挂起",
    CauseKind.NODE_PRESSURE: "节点 {node} {why_zh}，Pod 被驱逐",
    CauseKind.DISK_FULL: "节点 {node} 磁盘满",
    CauseKind.DNS_FAILURE: "coredns {why_zh}，域名解析失败",
    CauseKind.CERT_EXPIRED: "{host} 证书过期",
    CauseKind.UPSTREAM_DOWN: "依赖 {up} 连接被拒{why_part}",
    CauseKind.OOM_KILL: "内存超限被 OOM 杀掉",
    CauseKind.RESOURCE_LIMITS: "{actor}把内存上限改成 {limit}，OOM 重启",
    CauseKind.PROBE_CHANGE: "{actor}改了健康检查，探测失败",
    CauseKind.SCALED_DOWN: "{actor}把{what}降到 {n}，处理不过来",
}
_SYMPTOM_ZH = {
    "oom_kill": "内存溢出反复重启", "crash_loop": "容器反复重启", "image_pull": "镜像拉取失败",
    "insufficient_resources": "资源不足无法调度", "scale_beyond_capacity": "扩容超出集群容量",
    "missing_storage_class": "存储类不存在", "volume": "存储卷无法绑定", "hpa_metrics": "HPA 取不到指标",
    "probe_failure": "健康检查失败", "scheduling": "无法调度", "bad_release": "新版本报错",
    "config_change": "配置变更后报错", "crash_after_change": "变更后反复重启", "bad_image": "镜像拉取失败",
}  # fmt: skip


def short_zh(cause: Cause, actor: bool = True) -> str:
    s = _Slots(cause.slots)
    s["actor"] = f"{s['actor']} " if s.get("actor") and actor else ""
    s["why_zh"] = _WHY_ZH.get(s.get("why", ""), "故障")
    s["why_part"] = f"，{_WHY_ZH[s['why']]}" if s.get("why") in _WHY_ZH else ""
    if cause.kind is CauseKind.CERT_EXPIRED and not s.get("host"):
        return "调用方证书过期"
    return SHORT_ZH.get(cause.kind, "出现异常").format_map(s)


@dataclass
class _Candidate:
    namespace: str
    workload: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def severity(self) -> str:
        return min((f.severity for f in self.findings), key=lambda s: SEV_RANK.get(s, 9))

    @property
    def impact(self) -> int:
        return sum(f.count for f in self.findings if f.category != "change_before_errors")

    def onsets(self) -> list[float]:
        """First times of its findings, most telling first (warning events and changes, then error spikes)."""
        order = {"change_before_errors": 0, "k8s_warning": 1, "error_spike": 2, "spike": 3}
        fs = sorted((f for f in self.findings if f.first_ts),
                    key=lambda f: (order.get(f.category, 9), SEV_RANK.get(f.severity, 9), f.first_ts))  # fmt: skip
        return list(dict.fromkeys(f.first_ts for f in fs))

    @property
    def first(self) -> float:
        ts = [f.first_ts for f in self.findings if f.first_ts]
        return min(ts) if ts else 0.0


def candidates(report: DayReport) -> list[_Candidate]:
    """Workloads with notable findings (error spikes, warning events, changes followed by errors)."""
    out: dict[tuple[str, str], _Candidate] = {}
    for f in report.findings:
        if not f.workload or f.category not in INCIDENT_CATEGORIES or SEV_RANK.get(f.severity, 9) > 2:
            continue
        if (
            f.category == "k8s_warning"
            and f.severity == "medium"
            and f.evidence.get("class") == "probe_failure"
        ):
            continue
        key = (f.namespace, f.workload)
        out.setdefault(key, _Candidate(f.namespace, f.workload)).findings.append(f)
    ranked = sorted(out.values(), key=lambda c: (SEV_RANK.get(c.severity, 9), -c.impact))
    return ranked[: MAX_INCIDENTS * 2]


def diagnose(report: DayReport, evidence_root: Path, timezone: str = "Asia/Shanghai") -> list[DayIncident]:
    """Trace each candidate over the day's evidence and merge those with the same cause."""
    found: list[tuple[_Candidate, Trace | None]] = []
    for c in candidates(report):
        best: Trace | None = None
        for first in c.onsets()[:3]:  # the most telling symptom first; stop at the first named cause
            at = first + LEAD_S
            keys = AlertKeys.build(at, namespace=c.namespace, workload=c.workload, title="nightly")
            stores = StoreSet.for_window(evidence_root, report.owner, at - 1800, at + 300, timezone)
            try:
                got = trace(keys, stores, timezone=timezone)
            except Exception as exc:  # one failed trace never loses the others
                log.warning("tracing %s/%s for the day summary failed: %s", c.namespace, c.workload, exc)
                continue
            finally:
                stores.close()
            if (
                best is None
                or (got.found and not best.found)
                or (got.cause_detail is not None and best.cause_detail is None)
            ):
                best = got
            if got.cause_detail is not None:
                break
        found.append((c, best))
    merged: dict[str, DayIncident] = {}
    order: list[str] = []
    found.sort(
        key=lambda ct: ct[1] is None or ct[1].cause_detail is None
    )  # named causes first: others join them
    for c, t in found:
        cause = t.cause_detail if t is not None else None
        key = (
            f"cause:{cause.object}"
            if cause is not None and cause.object
            else f"wl:{c.namespace}/{c.workload}"
        )
        # a workload that *is* another incident's cause (coredns itself crash-looping) joins that incident
        hit = next((k for k in order if k.startswith("cause:") and k.rpartition("/")[2] == c.workload), None)
        if cause is None and hit is not None:
            key = hit
        inc = merged.get(key)
        if inc is None:
            inc = DayIncident(rank=0, namespace=c.namespace, workload=c.workload, severity=c.severity,
                              impact=c.impact, cause=t.cause if t is not None else CauseKind.NONE.value, at=c.first)  # fmt: skip
            if t is not None and t.found:
                inc.found = True
                inc.cause_zh = t.root_cause_zh
                inc.fix_zh = t.fix_zh
                inc.short_zh = short_zh(cause) if cause is not None else _SYMPTOM_ZH.get(t.cause, "")
                inc.terse_zh = short_zh(cause, actor=False) if cause is not None else inc.short_zh
                if cause is not None:
                    inc.cause_object = cause.object
                    inc.actor = cause.slots.get("actor", "")
            merged[key] = inc
            order.append(key)
        else:
            inc.impact += c.impact
            if SEV_RANK.get(c.severity, 9) < SEV_RANK.get(inc.severity, 9):
                inc.severity = c.severity
            if c.workload != inc.workload and c.workload not in inc.affected:
                inc.affected.append(c.workload)
        inc.finding_ids.extend(f.id for f in c.findings)
    # an incident whose workload is the named cause of another (the redis that the API cannot reach) joins it
    incs = list(merged.values())
    for a in list(incs):
        b = next((b for b in incs if b is not a and b.cause_object.rpartition("/")[2] == a.workload), None)
        if b is not None and a.cause_object.rpartition("/")[2] != b.workload:
            b.impact += a.impact
            if SEV_RANK.get(a.severity, 9) < SEV_RANK.get(b.severity, 9):
                b.severity = a.severity
            b.finding_ids.extend(a.finding_ids)
            incs.remove(a)
    out = sorted(incs, key=lambda i: (SEV_RANK.get(i.severity, 9) + (0 if i.found else 1), -i.impact))
    for n, inc in enumerate(out[:MAX_INCIDENTS], 1):
        inc.rank = n
    return out[:MAX_INCIDENTS]


def spoken_name(inc: DayIncident) -> str:
    w = safe_name(inc.workload, 40)
    return w + (f" 等 {len(inc.affected) + 1} 个服务" if inc.affected else "")


__all__ = ["candidates", "diagnose", "short_zh", "spoken_name"]
