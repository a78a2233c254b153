"""Link audit changes to the errors that followed them: audit → k8s events → business (pure functions).

A change on workload W at time T is blamed when, in the window after T (up to the next change on W), W's
Warning events or business errors (its own, or other services' errors that name W) are clearly above the
same-length window before T. Using "up to the next change" keeps a routine rollout from being blamed for the
errors of a bad rollout that followed it, and a rollback from being blamed for the errors it ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.findings import Finding
from agents.log_agents.common import BIN_SECONDS, DAY_BINS
from agents.records import LogKind

WINDOW_BINS = 9  # 45 minutes
CONFIG_SUFFIXES = ("-configmap", "-config", "-conf", "-cm", "-settings", "-env", "-cfg")
EVENT_CLASS_ZH = {
    "image_pull": "拉取镜像失败",
    "oom_kill": "内存溢出重启",
    "crash_loop": "容器反复重启",
    "insufficient_resources": "资源不足无法调度",
    "unbound_pvc": "存储卷无法绑定",
    "scheduling": "无法调度",
    "hpa_metrics": "HPA 取不到指标",
    "probe_failure": "健康检查失败",
}


@dataclass
class Change:
    ts: float
    user: str
    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    workload: str = ""
    images: dict[str, str] = field(default_factory=dict)  # container → new image
    old_images: dict[str, str] = field(default_factory=dict)
    replicas: int | None = None
    storage_classes: list[str] = field(default_factory=list)
    source_ip: str = ""
    user_agent: str = ""
    reverted_by: str = ""  # who later set the old image again
    reverted_ts: float = 0.0

    def describe(self) -> str:
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        target = f"{self.namespace}/{self.name}" if self.namespace else self.name
        text = f"{self.verb} {what} {target} by {self.user}"
        if self.images:
            text += (
                " (image "
                + ", ".join(
                    f"{self.old_images.get(c, '?')} → {img}" if self.old_images.get(c) else f"→ {img}"
                    for c, img in self.images.items()
                )
                + ")"
            )
        if self.replicas is not None:
            text += f" (replicas → {self.replicas})"
        return text

    def describe_zh(self) -> str:
        if self.images:
            tags = "、".join(image_tag(i) for i in self.images.values())
            return f"{self.user} 把 {self.workload} 的镜像改为 {tags}"
        if self.replicas is not None:
            return f"{self.user} 把 {self.workload} 扩容到 {self.replicas} 个副本"
        if self.resource == "configmaps":
            return f"{self.user} 修改了配置 {self.name}"
        if self.verb == "create":
            return f"{self.user} 创建了 {self.workload}"
        return f"{self.user} 修改了 {self.workload}"

    def to_dict(self) -> dict[str, Any]:
        d = {
            "ts": self.ts,
            "user": self.user,
            "verb": self.verb,
            "resource": self.resource,
            "subresource": self.subresource,
            "namespace": self.namespace,
            "name": self.name,
            "workload": self.workload,
            "source_ip": self.source_ip,
        }
        if self.images:
            d["images"] = dict(self.images)
            d["image_tags"] = [image_tag(i) for i in self.images.values()]
            d["old_images"] = dict(self.old_images)
        if self.replicas is not None:
            d["replicas"] = self.replicas
        if self.storage_classes:
            d["storage_classes"] = list(self.storage_classes)
        if self.reverted_by:
            d["reverted_by"], d["reverted_ts"] = self.reverted_by, self.reverted_ts
        return d


def image_tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return last.split("@", 1)[1][:19]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def configmap_workload(name: str, known: set[str]) -> str:
    """``order-api-config`` → ``order-api`` when that workload is known (else the longest known prefix)."""
    for suffix in CONFIG_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    best = ""
    for w in known:
        if name.startswith(w + "-") and len(w) > len(best):
            best = w
    return best


def _sum(bins: list[int] | None, a: int, b: int) -> int:
    return sum(bins[max(0, a) : min(DAY_BINS, b)]) if bins else 0


def correlate_changes(
    changes: list[Change],
    day_start: float,
    business: dict[str, Any],
    events: dict[str, Any],
    window_bins: int = WINDOW_BINS,
) -> list[Finding]:
    """``change_before_errors`` findings for changes followed by errors on the same workload."""
    err_bins: dict[str, list[int]] = business.get("error_bins", {})
    mention_bins: dict[str, list[int]] = business.get("mention_bins", {})
    mention_sources: dict[str, list[str]] = business.get("mention_sources", {})
    warn_bins: dict[str, list[int]] = events.get("warning_bins", {})
    classes: dict[str, list[str]] = events.get("classes", {})
    by_wl: dict[str, list[Change]] = {}
    for c in sorted(changes, key=lambda c: c.ts):
        if c.workload:
            by_wl.setdefault(c.workload, []).append(c)
    out: list[Finding] = []
    for w, seq in by_wl.items():
        biz = [
            a + b
            for a, b in zip(err_bins.get(w, [0] * DAY_BINS), mention_bins.get(w, [0] * DAY_BINS), strict=True)
        ]
        ev = warn_bins.get(w)
        for i, c in enumerate(seq):
            b0 = int((c.ts - day_start) // BIN_SECONDS)
            if not 0 <= b0 < DAY_BINS:
                continue
            end = b0 + window_bins
            if i + 1 < len(seq):
                end = min(end, int((seq[i + 1].ts - day_start) // BIN_SECONDS))
            span = max(1, end - b0)
            biz_after, biz_before = _sum(biz, b0, b0 + span), _sum(biz, b0 - window_bins, b0)
            ev_after, ev_before = _sum(ev, b0, b0 + span), _sum(ev, b0 - window_bins, b0)
            scale = span / window_bins
            biz_hit = biz_after >= max(5, 3 * biz_before * scale + 3)
            ev_hit = ev_after >= max(3, 3 * ev_before * scale + 2)
            if not (biz_hit or ev_hit):
                continue
            out.append(_finding(c, w, biz_hit, ev_hit, biz_after, biz_before, ev_after, ev_before,
                                classes.get(w, []), mention_sources.get(w, [])))  # fmt: skip
    return out


def _finding(
    c: Change,
    w: str,
    biz_hit: bool,
    ev_hit: bool,
    biz_after: int,
    biz_before: int,
    ev_after: int,
    ev_before: int,
    ev_classes: list[str],
    callers: list[str],
) -> Finding:
    effects_en, effects_zh = [], []
    if ev_hit:
        names = [cl for cl in ev_classes if cl in EVENT_CLASS_ZH]
        effects_en.append(f"{ev_after} warning events ({', '.join(names) or 'warnings'})")
        effects_zh.append("、".join(EVENT_CLASS_ZH[cl] for cl in names) or "出现告警事件")
    if biz_hit:
        effects_en.append(f"{biz_after} business errors (before: {biz_before})")
        effects_zh.append(f"业务报错 {biz_after} 条")
    sev = "critical" if (ev_hit and biz_hit) or c.images else "high"
    return Finding(
        kind=LogKind.AUDIT,
        category="change_before_errors",
        severity=sev,
        title=f"{c.describe()} followed by {' and '.join(effects_en)}",
        summary_zh=f"{c.describe_zh()}后，{'，'.join(effects_zh)}。",
        count=biz_after + ev_after,
        namespace=c.namespace,
        workload=w,
        object=f"{c.resource}/{c.name}",
        user=c.user,
        first_ts=c.ts,
        last_ts=c.ts + WINDOW_BINS * BIN_SECONDS,
        evidence={
            "change": c.to_dict(),
            "events": {"after": ev_after, "before": ev_before, "classes": ev_classes, "linked": ev_hit},
            "business": {"after": biz_after, "before": biz_before, "linked": biz_hit, "callers": callers},
        },
    )
