"""Symptom tracer (the last resort after the cause rules in `agents.tracer.rules`): alert keys → business errors
→ k8s events → audit changes → a causal chain and a verdict.

Pure, deterministic reasoning over evidence an `EvidenceProvider` returns (the day's `EvidenceStore`, or CLS
SearchLog for today's live logs). No LLM: an LLM may only rephrase the result later.

1. keys: time window [alert − 30 min, alert + 5 min], namespace, workload (pod hash stripped), keywords;
2. business: the workload's ERROR/FATAL lines, grouped, compared with the 3 h before (what is *new*), and the
   errors of its callers (other services' errors naming it);
3. k8s: Warning events on its pods / replicasets / HPA / PVCs, classified by reason *and* message (kubelet uses
   ``BackOff`` and ``Failed`` for both image pulls and crashes), plus kernel OOM kills on the nodes its pods ran on;
4. audit: people's changes to the workload, its ConfigMaps or its scale before the first symptom; the old image
   comes from the previous change (or from the kubelet's "image already present" events);
5. verdict: a named cause, a fix, a rollback target when an image change caused it, and a confidence made of the
   links that hold (weighted by how close in time they are). No link → "no cause found", never a guess.

Log text is untrusted: it is carried as quoted evidence only; every decision reads structured fields (reasons,
verbs, images parsed by pattern), and names that reach text or speech are reduced to a safe alphabet.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agents.evidence import Evidence, EvidenceError, EvidenceProvider, EvidenceQuery
from agents.log_agents.audit import is_system
from agents.log_agents.correlate import image_tag
from agents.log_agents.event import _INSUFFICIENT, _STORAGE_CLASS, OOM_REASONS, classify
from agents.parsers import workload_from_pod
from agents.tracer.context import Asker
from agents.tracer.model import Cause, Undo

BEFORE_S = 1800.0
AFTER_S = 300.0
CHANGE_LOOKBACK_S = 1800.0  # a change this long before the first symptom can still be its cause
BASELINE_S = 3 * 3600.0
HISTORY_S = 24 * 3600.0  # how far back the previous image is looked for
OOM_LINK_S = 900.0
ERROR_LEVELS = ("ERROR", "FATAL")
MAX_LINES = 5
NO_CAUSE_CAP = 0.25

_IMAGE_RE = re.compile(r'image "([^"\s]{1,300})"')
_SAFE = re.compile(r"[^A-Za-z0-9._:/@+-]")
_DIGITS = re.compile(r"\d+")
_HEX = re.compile(r"\b[0-9a-f]{8,}\b")
_KEYWORD_RE = re.compile(
    r"\b(?:[45]\d\d|OOMKilled|OOMKilling|CrashLoopBackOff|ImagePullBackOff|ErrImagePull|FailedScheduling|"
    r"FailedMount|Unhealthy|Evicted|[A-Za-z]+(?:Error|Exception))\b"
)
CAUSES = (
    "bad_image", "image_pull", "crash_after_change", "oom_kill", "crash_loop", "scale_beyond_capacity",
    "insufficient_resources", "missing_storage_class", "volume", "hpa_metrics", "config_change", "bad_release",
    "probe_failure", "scheduling", "none",
)  # fmt: skip
_CLASS_ZH = {
    "image_pull": "拉取镜像失败", "crash_loop": "容器反复重启", "oom_kill": "内存溢出被杀", "insufficient_resources":
    "资源不足无法调度", "unbound_pvc": "存储卷无法绑定", "scheduling": "无法调度", "hpa_metrics": "HPA 取不到指标",
    "probe_failure": "健康检查失败", "other": "告警事件",
}  # fmt: skip


def safe_name(text: str, limit: int = 80) -> str:
    """A name (workload, user, image, tag) reduced to a safe alphabet: log text never reaches prose unfiltered."""
    return _SAFE.sub("", text or "")[:limit]


# ---------------------------------------------------------------- input and output


@dataclass(frozen=True)
class AlertKeys:
    """What the tracer needs from an alert (the server converts its `Alert` into this)."""

    at: float  # epoch seconds of the alert (or of the business error)
    namespace: str = ""
    workload: str = ""
    pod: str = ""
    workload_kind: str = ""
    node: str = ""
    title: str = ""
    keywords: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        at: datetime | float,
        *,
        namespace: str | None = None,
        workload: str | None = None,
        pod: str | None = None,
        workload_kind: str | None = None,
        node: str | None = None,
        title: str = "",
        description: str = "",
        labels: dict[str, str] | None = None,
    ) -> AlertKeys:
        """Keys from alert fields and labels (TKE dimensions ``workload_name``/``pod_name``/``node``, Alertmanager
        ``deployment``/``pod``…); the workload is derived from the pod name when missing."""
        labels = labels or {}

        def pick(*names: str) -> str:
            return next((str(labels[n]) for n in names if labels.get(n)), "")

        pod = pod or pick("pod_name", "pod")
        workload = workload or pick("workload_name", "workload", "deployment", "statefulset", "daemonset")
        if not workload and pod:
            workload = workload_from_pod(pod)
        kind = workload_kind or pick("workload_kind")
        if not kind and labels.get("deployment"):
            kind = "Deployment"
        ts = at.timestamp() if isinstance(at, datetime) else float(at)
        text = f"{title} {description} {pick('alertname', 'reason')}"
        keywords = tuple(dict.fromkeys(_KEYWORD_RE.findall(text)))[:10]
        return cls(
            at=ts, namespace=namespace or pick("namespace", "k8s_namespace"), workload=workload, pod=pod,
            workload_kind=kind, node=node or pick("node", "node_name"), title=title[:300], keywords=keywords,
        )  # fmt: skip


@dataclass
class EvidenceLine:
    ts: float
    kind: str
    level: str
    object: str
    message: str  # untrusted log text, quoted as-is (truncated)

    @classmethod
    def of(cls, e: Evidence) -> EvidenceLine:
        return cls(e.ts, e.kind, e.level, e.object or e.pod or e.workload, e.message[:300])


@dataclass
class TraceStep:
    kind: str  # audit | event | business | alert
    role: str  # change | k8s | node | business | callers | callee | alert | context
    ts: float
    last_ts: float
    count: int
    title: str  # English
    title_zh: str
    evidence: list[EvidenceLine] = field(default_factory=list)


@dataclass
class RollbackTarget:
    namespace: str
    deployment: str
    workload_kind: str = "Deployment"
    image: str = ""  # the previous good image ("" = the previous revision)
    container: str = ""
    bad_image: str = ""
    changed_by: str = ""
    changed_at: float = 0.0
    revision: int | None = None


@dataclass
class Trace:
    keys: AlertKeys
    window: tuple[float, float]
    cause: str  # one of CAUSES
    found: bool
    confidence: float
    root_cause_zh: str
    root_cause_en: str
    fix_zh: str
    fix_en: str
    chain: list[TraceStep] = field(default_factory=list)
    links: dict[str, float] = field(default_factory=dict)  # link name → weight it contributed
    rollback: RollbackTarget | None = None
    namespace: str = ""
    workload: str = ""
    changed_by: str = ""
    bad_image: str = ""
    reverted_by: str = ""  # someone already set the old image again
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # evidence queries that failed (the trace may be partial)
    stats: dict[str, float] = field(default_factory=dict)
    undo: Undo | None = None  # what reverses the cause (the plan's source); None only when nothing was traced
    cause_detail: Cause | None = None  # the typed cause, when a cause rule named one
    rule: str = ""  # the rule that named the cause ("symptoms" for the symptom tracer)

    @property
    def actionable(self) -> bool:
        """The trace proposes an action a person can approve (a rollback or a config restore)."""
        return self.undo is not None and self.undo.actionable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def plan_args(self) -> dict[str, Any]:
        """Keyword arguments for ``server.cases.plans.deterministic_plan`` (a rollback only when one is due)."""
        rb = self.rollback
        if rb is None:
            return {"namespace": self.namespace or None, "workload": None, "evidence": self.root_cause_zh}
        return {
            "namespace": rb.namespace, "workload": rb.deployment, "workload_kind": rb.workload_kind.lower(),
            "to_revision": rb.revision, "image": rb.image or None, "evidence": self.root_cause_zh,
        }  # fmt: skip


# ---------------------------------------------------------------- helpers


def _text(e: Evidence) -> str:
    """An event's message without its ``Reason: `` prefix."""
    r = e.reason
    return e.message[len(r) + 2 :] if r and e.message.startswith(r + ": ") else e.message


def _shape(e: Evidence) -> str:
    return str(e.tid) if e.tid >= 0 else _DIGITS.sub("#", _HEX.sub("#", e.message[:200]))


@dataclass
class _Group:
    key: str
    items: list[Evidence]

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def first(self) -> float:
        return self.items[0].ts

    @property
    def last(self) -> float:
        return self.items[-1].ts


def _groups(items: list[Evidence], key: Callable[[Evidence], str]) -> list[_Group]:
    out: dict[str, _Group] = {}
    for e in items:
        k = key(e)
        g = out.get(k)
        if g is None:
            out[k] = _Group(k, [e])
        else:
            g.items.append(e)
    return sorted(out.values(), key=lambda g: (-g.count, g.first))


def _examples(items: list[Evidence], n: int = MAX_LINES) -> list[EvidenceLine]:
    """Up to n lines with distinct messages, earliest first."""
    seen: set[str] = set()
    out = []
    for e in items:
        k = _shape(e)
        if k in seen:
            continue
        seen.add(k)
        out.append(EvidenceLine.of(e))
        if len(out) >= n:
            break
    return out


def _closeness(dt: float) -> float:
    """1 within 5 min, falling linearly to 0.3 at 30 min and beyond."""
    dt = abs(dt)
    if dt <= 300:
        return 1.0
    return max(0.3, 1.0 - 0.7 * (dt - 300) / 1500)


def _hm(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%H:%M")


@dataclass
class _Change:
    e: Evidence
    images: dict[str, str]
    replicas: int | None
    storage_classes: list[str]
    config: dict[str, str]
    old_images: dict[str, str] = field(default_factory=dict)
    reverted_by: str = ""

    @property
    def ts(self) -> float:
        return self.e.ts

    @property
    def user(self) -> str:
        return safe_name(self.e.user, 60)

    @property
    def resource(self) -> str:
        return self.e.resource

    def describe(self) -> str:
        d = f"{self.e.verb} {self.resource}{'/' + self.e.detail['subresource'] if self.e.detail.get('subresource') else ''}"
        d += f" {self.e.namespace + '/' if self.e.namespace else ''}{self.e.object.partition('/')[2]} by {self.user}"
        if self.images:
            d += (
                " (image "
                + ", ".join(
                    f"{safe_name(self.old_images.get(c, '?'), 200)} → {safe_name(i, 200)}"
                    for c, i in self.images.items()
                )
                + ")"
            )
        if self.replicas is not None:
            d += f" (replicas → {self.replicas})"
        return d

    def describe_zh(self, tz: ZoneInfo) -> str:
        name = safe_name(self.e.object.partition("/")[2])
        when = _hm(self.ts, tz)
        if self.images:
            tags = "、".join(safe_name(image_tag(i), 60) for i in self.images.values())
            return f"{self.user} 在 {when} 把 {name} 的镜像改成了 {tags}"
        if self.replicas is not None:
            return f"{self.user} 在 {when} 把 {name} 扩到 {self.replicas} 个副本"
        if self.resource == "configmaps":
            return f"{self.user} 在 {when} 修改了配置 {name}"
        verb = {"create": "创建了", "delete": "删除了"}.get(self.e.verb, "修改了")
        return f"{self.user} 在 {when} {verb} {name}"


def _change_of(e: Evidence) -> _Change:
    d = e.detail
    images = {str(k): str(v) for k, v in (d.get("images") or {}).items()}
    return _Change(
        e, images, d.get("replicas"), list(d.get("storage_classes") or []), dict(d.get("config") or {})
    )


# ---------------------------------------------------------------- the tracer


def trace(
    keys: AlertKeys,
    provider: EvidenceProvider,
    *,
    before: float = BEFORE_S,
    after: float = AFTER_S,
    timezone: str = "Asia/Shanghai",
    follow_callee: bool = True,
) -> Trace:
    """Trace an alert to a cause. Raises `EvidenceError` only when no evidence could be read at all."""
    t_start = time.perf_counter()
    ask = Asker(provider)
    result = _trace(keys, ask, before, after, ZoneInfo(timezone), follow_callee)
    if ask.n and not ask.ok and ask.last_error is not None:
        raise EvidenceError(str(ask.last_error), code=ask.last_error.code)
    result.errors = list(ask.errors)
    result.stats = {"queries": ask.n, "seconds": round(time.perf_counter() - t_start, 4)}
    return result


def _trace(keys: AlertKeys, ask: Asker, before: float, after: float, tz: ZoneInfo, follow: bool) -> Trace:
    t0, t1 = keys.at - before, keys.at + after
    ns = keys.namespace or None
    w = keys.workload or workload_from_pod(keys.pod)
    alert_step = TraceStep("alert", "alert", keys.at, keys.at, 1, f"Alert: {keys.title[:200]}",
                           f"告警：{keys.title[:100]}")  # fmt: skip
    if not w:
        return _no_cause(
            keys, (t0, t1), [alert_step], "no workload or pod in the alert", "告警里没有工作负载或 Pod 信息"
        )

    # -- business: the workload's errors, what is new in them, and its callers' errors
    own = ask(EvidenceQuery("business", t0, t1, ns, workloads=(w,), levels=ERROR_LEVELS))
    base = ask(EvidenceQuery("business", t0 - BASELINE_S, t0, ns, workloads=(w,), levels=ERROR_LEVELS))
    base_counts: dict[str, int] = {}
    for e in base:
        k = _shape(e)
        base_counts[k] = base_counts.get(k, 0) + 1
    scale = (t1 - t0) / BASELINE_S
    novel = [
        g
        for g in _groups(own, _shape)
        if g.count >= 2 and g.count > 3 * base_counts.get(g.key, 0) * scale + 1
    ]
    callers_rows = ask(
        EvidenceQuery("business", t0, t1, None, levels=ERROR_LEVELS, text=w, exclude_workloads=(w,))
    )
    callers = [g for g in _groups(callers_rows, lambda e: e.workload or "?") if g.count >= 2]

    # -- k8s events on the workload's objects, and kernel OOM kills on its nodes
    events = ask(EvidenceQuery("event", t0 - 600, t1, ns, workloads=(w,)))
    warnings = [e for e in events if e.level != "INFO"]
    classes: dict[str, list[Evidence]] = {}
    for e in warnings:
        classes.setdefault(classify(e.reason, _text(e)), []).append(e)
    hosts = sorted({e.host for e in events if e.host} | ({keys.node} if keys.node else set()))
    node_ooms: list[Evidence] = []
    if hosts:
        node_rows = ask(
            EvidenceQuery("event", t0 - OOM_LINK_S, t1, None, objects=tuple(f"Node/{h}" for h in hosts))
        )
        node_ooms = [e for e in node_rows if e.reason in OOM_REASONS]
    crash = classes.get("crash_loop", [])
    linked_ooms = [
        o for o in node_ooms if crash and crash[0].ts - OOM_LINK_S <= o.ts <= crash[-1].ts + OOM_LINK_S
    ] if crash else []  # fmt: skip
    oom_text = [e for e in warnings + own if "OOMKilled" in e.message or "OutOfMemory" in e.message]
    if crash and (linked_ooms or any(e.kind == "event" for e in oom_text)):
        classes["oom_kill"] = crash + [e for e in oom_text if e.kind == "event" and e not in crash]
        del classes["crash_loop"]
    classes.pop("other", None)
    # symptoms of the k8s layer, most specific first
    order = ["image_pull", "oom_kill", "crash_loop", "insufficient_resources", "unbound_pvc", "hpa_metrics",
             "scheduling", "probe_failure"]  # fmt: skip
    k8s_class = next((c for c in order if classes.get(c)), "")
    # scattered probe failures are background noise unless they repeat
    if k8s_class == "probe_failure" and len(classes[k8s_class]) < 3:
        k8s_class = ""
    k8s_items = classes.get(k8s_class, [])

    onsets = [x for x in (k8s_items[0].ts if k8s_items else None, min((g.first for g in novel), default=None))
              if x is not None]  # fmt: skip
    onset = min(onsets) if onsets else None

    # -- audit: people's changes to the workload / its config before the first symptom
    a0 = min(t0, (onset or keys.at) - CHANGE_LOOKBACK_S)
    audit = ask(EvidenceQuery("audit", a0, t1, ns, workloads=(w,),
                              object_prefixes=(f"configmaps/{w}", f"secrets/{w}"), reasons=("change", "delete")))  # fmt: skip
    changes = [_change_of(e) for e in audit if not is_system(e.user)]
    horizon = (onset if onset is not None else keys.at) + 120
    before_onset = [c for c in changes if c.ts <= horizon]
    for c in changes:
        if c.images:
            c.old_images = _previous_images(ask, c, ns, w, tz)
    for i, c in enumerate(changes):
        for later in changes[i + 1 :]:
            if c.old_images and any(later.images.get(k) == v for k, v in c.old_images.items()):
                c.reverted_by = later.user
                break

    # -- verdict
    bad_images = [m.group(1) for e in classes.get("image_pull", []) if (m := _IMAGE_RE.search(_text(e)))]
    ctx = _Ctx(keys, w, ns or "", tz, (t0, t1), alert_step, own, novel, callers, k8s_class, k8s_items, linked_ooms,
               hosts, before_onset, changes, onset, bad_images, oom_text)  # fmt: skip
    result = _verdict(ctx)
    if follow and result.cause == "none" and novel:
        pivot = _follow_callee(ctx, ask, before, after, tz)
        if pivot is not None:
            return pivot
    return result


@dataclass
class _Ctx:
    keys: AlertKeys
    w: str
    ns: str
    tz: ZoneInfo
    window: tuple[float, float]
    alert_step: TraceStep
    own: list[Evidence]
    novel: list[_Group]
    callers: list[_Group]
    k8s_class: str
    k8s_items: list[Evidence]
    node_ooms: list[Evidence]
    hosts: list[str]
    changes: list[_Change]  # before the first symptom
    all_changes: list[_Change]
    onset: float | None
    bad_images: list[str]
    oom_text: list[Evidence]


def _previous_images(ask: Asker, c: _Change, ns: str | None, w: str, tz: ZoneInfo) -> dict[str, str]:
    """Container → image before change ``c``: the previous change that set an image, else the kubelet's pulls."""
    prev = ask(EvidenceQuery("audit", c.ts - HISTORY_S, c.ts, ns, workloads=(w,), reasons=("change",),
                             limit=200, newest_first=True))  # fmt: skip
    out: dict[str, str] = {}
    for e in reversed(prev):
        for ctr, img in (e.detail.get("images") or {}).items():
            if ctr in c.images and ctr not in out and img != c.images[ctr]:
                out[ctr] = str(img)
    if len(out) < len(c.images):
        pulls = ask(EvidenceQuery("event", c.ts - 6 * 3600, c.ts, ns, workloads=(w,), reasons=("Pulled",),
                                  limit=50, newest_first=True))  # fmt: skip
        for e in reversed(pulls):
            m = _IMAGE_RE.search(e.message)
            if not m:
                continue
            img = m.group(1)
            repo = img.rsplit(":", 1)[0] if ":" in img.rsplit("/", 1)[-1] else img
            for ctr, new in c.images.items():
                new_repo = new.rsplit(":", 1)[0] if ":" in new.rsplit("/", 1)[-1] else new
                if ctr not in out and repo == new_repo and img != new:
                    out[ctr] = img
    return out


def _pick_change(ctx: _Ctx, want: Callable[[_Change], bool]) -> _Change | None:
    """The latest change before the first symptom that satisfies ``want``."""
    hits = [c for c in ctx.changes if want(c)]
    return hits[-1] if hits else None


def _steps(ctx: _Ctx, change: _Change | None, k8s_title: tuple[str, str] | None) -> list[TraceStep]:
    steps: list[TraceStep] = []
    if change is not None:
        steps.append(TraceStep("audit", "change", change.ts, change.ts, 1, change.describe(),
                               change.describe_zh(ctx.tz), [EvidenceLine.of(change.e)]))  # fmt: skip
    if ctx.k8s_items and k8s_title:
        items = ctx.k8s_items
        steps.append(TraceStep("event", "k8s", items[0].ts, items[-1].ts, len(items), k8s_title[0], k8s_title[1],
                               _examples(items)))  # fmt: skip
    if ctx.node_ooms and ctx.k8s_class == "oom_kill":
        o = ctx.node_ooms
        hosts = ", ".join(sorted({safe_name(e.object.partition("/")[2]) for e in o}))
        steps.append(TraceStep("event", "node", o[0].ts, o[-1].ts, len(o), f"Kernel OOM kills on node {hosts} ({len(o)})",
                               f"节点 {hosts} 内核 OOM 杀进程 {len(o)} 次", _examples(o, 2)))  # fmt: skip
    if ctx.novel:
        items = sorted((e for g in ctx.novel[:3] for e in g.items), key=lambda e: e.ts)
        n = sum(g.count for g in ctx.novel)
        steps.append(TraceStep("business", "business", items[0].ts, items[-1].ts, n,
                               f"{n} new business errors in {ctx.w}", f"{safe_name(ctx.w)} 新出现业务报错 {n} 条",
                               _examples(items)))  # fmt: skip
    for g in ctx.callers[:3]:
        caller = safe_name(g.key)
        steps.append(TraceStep("business", "callers", g.first, g.last, g.count,
                               f"{g.count} errors in caller {caller} naming {ctx.w}",
                               f"调用方 {caller} 调用 {safe_name(ctx.w)} 报错 {g.count} 条", _examples(g.items, 3)))  # fmt: skip
    steps.append(ctx.alert_step)
    steps.sort(key=lambda s: (s.ts, s.role != "change"))
    return steps


def _confidence(
    ctx: _Ctx, change: _Change | None, agreement: bool, extra: float = 0.0
) -> tuple[float, dict[str, float]]:
    links: dict[str, float] = {}
    if ctx.novel or ctx.callers:
        links["business_errors"] = 0.15
    elif ctx.own:
        links["business_errors"] = 0.05
    if ctx.k8s_items:
        links["k8s_events"] = 0.30
    if change is not None and ctx.onset is not None:
        links["change_before_symptoms"] = round(0.20 * _closeness(ctx.onset - change.ts), 3)
    if agreement:
        links["change_explains_symptoms" if change is not None else "consistent_signals"] = 0.25
    if ctx.onset is not None:
        links["symptoms_near_alert"] = round(0.10 * _closeness(ctx.keys.at - ctx.onset), 3)
    if extra:
        links["extra"] = extra
    return min(0.98, round(sum(links.values()), 3)), links


def _make(ctx: _Ctx, cause: str, change: _Change | None, agreement: bool, zh: str, en: str, fix_zh: str,
          fix_en: str, k8s_title: tuple[str, str] | None, rollback: RollbackTarget | None = None,
          details: dict[str, Any] | None = None) -> Trace:  # fmt: skip
    conf, links = _confidence(ctx, change, agreement)
    return Trace(
        keys=ctx.keys, window=ctx.window, cause=cause, found=True, confidence=conf, root_cause_zh=zh,
        root_cause_en=en, fix_zh=fix_zh, fix_en=fix_en, chain=_steps(ctx, change, k8s_title), links=links,
        rollback=rollback, namespace=ctx.ns, workload=ctx.w, changed_by=change.user if change else "",
        reverted_by=change.reverted_by if change else "", details=details or {},
    )  # fmt: skip


def _rollback_for(ctx: _Ctx, change: _Change) -> RollbackTarget | None:
    """Roll back an image change on a Deployment, unless somebody already did."""
    if change.resource != "deployments" or not change.images or change.reverted_by:
        return None
    ctr, bad = next(iter(change.images.items()))
    return RollbackTarget(namespace=ctx.ns or change.e.namespace, deployment=ctx.w, image=change.old_images.get(ctr, ""),
                          container=ctr, bad_image=bad, changed_by=change.user, changed_at=change.ts)  # fmt: skip


def _no_cause(keys: AlertKeys, window: tuple[float, float], chain: list[TraceStep], why_en: str, why_zh: str,
              confidence: float = 0.05, links: dict[str, float] | None = None) -> Trace:  # fmt: skip
    return Trace(
        keys=keys, window=window, cause="none", found=False, confidence=min(NO_CAUSE_CAP, confidence),
        root_cause_zh=f"没有找到明确原因：{why_zh}。", root_cause_en=f"No cause found: {why_en}.",
        fix_zh="建议人工排查：查看该服务的日志、事件和最近的变更。",
        fix_en="Investigate manually: check the service's logs, events and recent changes.", chain=chain,
        links=links or {}, namespace=keys.namespace, workload=keys.workload or workload_from_pod(keys.pod),
    )  # fmt: skip


def _verdict(ctx: _Ctx) -> Trace:
    w, tz = safe_name(ctx.w), ctx.tz
    cls, items = ctx.k8s_class, ctx.k8s_items
    where = f"{safe_name(ctx.ns)}/{w}" if ctx.ns else w
    n = len(items)
    pods = len({e.object for e in items})

    if cls == "image_pull":
        bad = ctx.bad_images[0] if ctx.bad_images else ""
        tag = safe_name(image_tag(bad), 60) if bad else ""
        title = (f"Image pull failing for {where}: {safe_name(bad, 200)} ({n} events on {pods} pods)",
                 f"{w} 拉取镜像 {tag} 失败，{pods} 个 Pod 共 {n} 次告警事件")  # fmt: skip
        change = _pick_change(ctx, lambda c: bool(c.images) and bad in c.images.values()) if bad else None
        if change is not None:
            old = next(iter(change.old_images.values()), "")
            old_tag = safe_name(image_tag(old), 60) if old else ""
            rb = _rollback_for(ctx, change)
            zh = (f"{change.user} 在 {_hm(change.ts, tz)} 把 {where} 的镜像{'从 ' + old_tag + ' ' if old_tag else ''}"
                  f"改成了 {tag}，这个镜像拉取失败，新 Pod 起不来。")  # fmt: skip
            en = (f"{change.user} changed the image of {where} to {safe_name(bad, 200)} at {_hm(change.ts, tz)}"
                  f"{' (was ' + safe_name(old, 200) + ')' if old else ''}; the image cannot be pulled, so new pods never start.")  # fmt: skip
            fix_zh = (
                f"回滚 {w} 到上一个镜像 {old_tag}，" if old_tag else f"回滚 {w} 到上一个版本，"
            ) + f"并确认镜像 {tag} 已推送到仓库。"
            fix_en = f"Roll {where} back to {safe_name(old, 200) or 'the previous revision'}, and check that {tag} exists in the registry."
            if change.reverted_by:
                fix_zh = f"{change.reverted_by} 已经把镜像改回去了，请确认新 Pod 已正常运行。"
                fix_en = (
                    f"{change.reverted_by} already set the old image again; check the new pods are running."
                )
            return _make(ctx, "bad_image", change, True, zh, en, fix_zh, fix_en, title, rb,
                         {"bad_image": bad, "bad_tag": image_tag(bad), "old_image": old})  # fmt: skip
        zh = f"{where} 拉取镜像 {tag} 失败，没有找到对应的变更记录。"
        en = f"Pods of {where} cannot pull image {safe_name(bad, 200)}; no matching change was found in the audit log."
        return _make(ctx, "image_pull", None, False, zh, en, f"检查镜像 {tag} 是否存在、仓库凭据是否有效。",
                     f"Check that {safe_name(bad, 200)} exists and the registry credentials are valid.", title,
                     details={"bad_image": bad})  # fmt: skip

    if cls == "oom_kill":
        title = (
            f"{where} OOM-killed and restarting ({n} back-offs on {pods} pods)",
            f"{w} 内存溢出被杀后反复重启，共 {n} 次",
        )
        change = _pick_change(ctx, lambda c: bool(c.images))
        rb = _rollback_for(ctx, change) if change else None
        zh = f"{where} 的容器内存超过上限，被内核 OOM 杀掉后反复重启。"
        en = f"Containers of {where} exceed their memory limit, get OOM-killed by the kernel and restart in a loop."
        if change is not None:
            zh += f"之前 {change.describe_zh(tz)}。"
            en += f" Before that: {change.describe()}."
        fix_zh = "回滚到上一个镜像，再排查内存。" if rb else "提高内存上限，或排查内存泄漏和堆大小配置。"
        fix_en = (
            "Roll back to the previous image, then investigate memory."
            if rb
            else "Raise the memory limit or investigate a leak / heap settings."
        )
        return _make(ctx, "oom_kill", change, bool(ctx.node_ooms) or bool(ctx.oom_text), zh, en, fix_zh, fix_en, title, rb,
                     {"hosts": ctx.hosts, "oom_kills": len(ctx.node_ooms)})  # fmt: skip

    if cls == "crash_loop":
        title = (f"{where} restart back-off ({n} events on {pods} pods)", f"{w} 容器反复重启，共 {n} 次")
        change = _pick_change(ctx, lambda c: bool(c.images) or c.resource == "configmaps")
        if change is not None:
            rb = _rollback_for(ctx, change)
            zh = f"{change.describe_zh(tz)}，之后 {where} 的容器反复崩溃重启。"
            en = f"After {change.describe()}, containers of {where} crash and restart in a loop."
            fix_zh = (
                "回滚到上一个镜像。"
                if rb
                else f"恢复配置 {safe_name(change.e.object.partition('/')[2])} 的上一版本。"
            )
            fix_en = (
                "Roll back to the previous image."
                if rb
                else "Restore the previous version of the configuration."
            )
            return _make(ctx, "crash_after_change", change, True, zh, en, fix_zh, fix_en, title, rb)
        return _make(ctx, "crash_loop", None, False, f"{where} 的容器反复崩溃重启，没有找到相关变更。",
                     f"Containers of {where} crash and restart in a loop; no related change was found.",
                     "查看容器上一次退出的日志（kubectl logs --previous）。", "Read the previous container logs (kubectl logs --previous).",
                     title)  # fmt: skip

    if cls == "insufficient_resources":
        res = sorted({m for e in items for m in _INSUFFICIENT.findall(_text(e))})
        res_zh = (
            "、".join("内存" if r == "memory" else "CPU" if r == "cpu" else safe_name(r) for r in res)
            or "资源"
        )
        title = (f"{where} pods unschedulable: insufficient {', '.join(res)} ({n} events, {pods} pods)",
                 f"{w} 有 {pods} 个 Pod 因节点{res_zh}不足无法调度")  # fmt: skip
        change = _pick_change(ctx, lambda c: c.replicas is not None)
        if change is not None:
            zh = f"{change.user} 在 {_hm(change.ts, tz)} 把 {where} 扩到 {change.replicas} 个副本，集群{res_zh}不足，{pods} 个 Pod 无法调度。"
            en = f"{change.user} scaled {where} to {change.replicas} replicas at {_hm(change.ts, tz)}; the cluster lacks {', '.join(res)}, {pods} pods cannot be scheduled."
            return _make(ctx, "scale_beyond_capacity", change, True, zh, en,
                         f"把 {w} 的副本数调回去，或给集群增加节点。", f"Scale {where} back down, or add nodes to the cluster.",
                         title, None, {"replicas": change.replicas, "pending_pods": pods, "resources": res})  # fmt: skip
        return _make(ctx, "insufficient_resources", None, False, f"集群{res_zh}不足，{where} 的 {pods} 个 Pod 无法调度。",
                     f"The cluster lacks {', '.join(res)}; {pods} pods of {where} cannot be scheduled.",
                     "给集群增加节点，或降低资源请求。", "Add nodes or lower the resource requests.", title,
                     details={"pending_pods": pods, "resources": res})  # fmt: skip

    if cls == "unbound_pvc":
        scs = sorted({m for e in items for m in _STORAGE_CLASS.findall(_text(e))})
        sc = safe_name(scs[0]) if scs else ""
        title = (f"{where} volumes cannot bind{': storageclass ' + sc + ' not found' if sc else ''} ({n} events)",
                 f"{w} 的存储卷无法绑定" + (f"，存储类 {sc} 不存在" if sc else ""))  # fmt: skip
        change = _pick_change(ctx, lambda c: bool(sc) and sc in c.storage_classes) or _pick_change(
            ctx, lambda c: c.e.verb == "create"
        )
        zh = f"{where} 的存储卷无法绑定" + (f"，存储类 {sc} 不存在" if sc else "") + "，Pod 一直无法调度。"
        en = (
            f"Volumes of {where} cannot bind"
            + (f" (storageclass {sc} not found)" if sc else "")
            + "; pods stay pending."
        )
        if change is not None:
            zh = f"{change.describe_zh(tz)}，" + zh
            en = f"{change.describe()}. " + en
        return _make(ctx, "missing_storage_class" if sc else "volume", change, bool(change and sc in change.storage_classes),
                     zh, en, f"创建存储类 {sc}，或把 {w} 改用已有的存储类。" if sc else "检查 PVC 和存储类配置。",
                     f"Create storageclass {sc} or point {where} at an existing one." if sc else "Check the PVC and storage classes.",
                     title, None, {"storage_class": sc})  # fmt: skip

    if cls == "hpa_metrics":
        title = (f"HPA of {where} cannot get metrics ({n} events)", f"{w} 的 HPA 取不到指标，共 {n} 次")
        ms = "metrics-server" if any("metrics" in e.message for e in items) else ""
        return _make(ctx, "hpa_metrics", None, bool(ms), f"{where} 的 HPA 取不到 CPU 指标，无法自动扩缩容，多半是 metrics-server 不可用。",
                     f"The HPA of {where} cannot read resource metrics (metrics API unavailable), so it cannot scale.",
                     "检查 kube-system 里的 metrics-server 是否正常。", "Check the metrics-server in kube-system.", title)  # fmt: skip

    if cls in ("scheduling", "probe_failure"):
        label = {
            "scheduling": ("pods unschedulable", "Pod 无法调度"),
            "probe_failure": ("probe failures", "健康检查失败"),
        }[cls]
        title = (f"{where} {label[0]} ({n} events)", f"{w} {label[1]}，共 {n} 次")
        change = _pick_change(ctx, lambda c: bool(c.images) or c.resource == "configmaps")
        rb = _rollback_for(ctx, change) if change else None
        zh = (f"{change.describe_zh(tz)}，之后 " if change else "") + f"{where} {label[1]}。"
        en = (f"After {change.describe()}, " if change else "") + f"{where}: {label[0]}."
        return _make(ctx, cls, change, change is not None, zh, en, "回滚到上一个镜像。" if rb else "查看事件详情排查。",
                     "Roll back to the previous image." if rb else "Inspect the events.", title, rb)  # fmt: skip

    # -- no k8s symptom: business errors after a change?
    if ctx.novel:
        cm = _pick_change(ctx, lambda c: c.resource == "configmaps")
        img = _pick_change(ctx, lambda c: bool(c.images))
        change = max((c for c in (cm, img) if c is not None), key=lambda c: c.ts, default=None)
        if change is not None and ctx.onset is not None and change.ts <= ctx.onset + 120:
            name = safe_name(change.e.object.partition("/")[2])
            mentioned = any(name in e.message or any(k in e.message for k in change.config) for e in ctx.own)
            agree = mentioned or _closeness(ctx.onset - change.ts) >= 0.9
            if change.resource == "configmaps":
                zh = f"{change.describe_zh(tz)}，之后 {where} 出现大量新的业务报错。"
                en = f"After {change.describe()}, {where} logs many new errors."
                return _make(ctx, "config_change", change, agree, zh, en, f"恢复配置 {name} 的上一版本，并重启 {w}。",
                             f"Restore the previous version of {name} and restart {where}.", None, None,
                             {"configmap": name, "mentioned": mentioned})  # fmt: skip
            rb = _rollback_for(ctx, change)
            zh = f"{change.describe_zh(tz)}，之后 {where} 出现大量新的业务报错。"
            en = f"After {change.describe()}, {where} logs many new errors."
            return _make(ctx, "bad_release", change, agree, zh, en, "回滚到上一个镜像。" if rb else "排查新版本的报错。",
                         "Roll back to the previous image." if rb else "Investigate the new release's errors.", None, rb)  # fmt: skip

    chain = _steps(ctx, None, None)
    conf, links = _confidence(ctx, None, False)
    if ctx.novel:
        why_en, why_zh = (
            f"{w} logs new errors, but no k8s event or change explains them",
            f"{w} 有新的业务报错，但没有相关的 k8s 事件或变更",
        )
    elif ctx.own:
        why_en, why_zh = f"only background errors of {w} in the window", f"时间窗口内 {w} 只有零星的常见报错"
    else:
        why_en, why_zh = (
            f"the logs that were read hold no errors, warning events or changes for {where} in the window",
            f"已读到的日志里，这段时间找不到 {where} 的报错、告警事件或变更记录",
        )
    return _no_cause(ctx.keys, ctx.window, chain, why_en, why_zh, conf, links)


def _follow_callee(ctx: _Ctx, ask: Asker, before: float, after: float, tz: ZoneInfo) -> Trace | None:
    """The workload's new errors name another service that has a cause of its own: trace that one."""
    t0, t1 = ctx.window
    names: dict[str, str] = {}  # workload → namespace, of workloads with events or changes in the window
    for kind in ("event", "audit"):
        for e in ask(EvidenceQuery(kind, t0, t1, None, limit=500)):
            if e.workload and e.workload != ctx.w:
                names.setdefault(e.workload, e.namespace)
    text = " ".join(e.message for g in ctx.novel[:3] for e in g.items[:3])
    callees = sorted(
        (n for n in names if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text)), key=len, reverse=True
    )
    for callee in callees[:2]:
        keys = AlertKeys(at=ctx.keys.at, namespace=names[callee], workload=callee, title=ctx.keys.title)
        sub = _trace(keys, ask, before, after, tz, False)
        if sub.found and sub.confidence >= 0.5:
            items = sorted((e for g in ctx.novel[:3] for e in g.items), key=lambda e: e.ts)
            step = TraceStep("business", "callee", items[0].ts, items[-1].ts, len(items),
                             f"{ctx.w} errors name {callee}", f"{safe_name(ctx.w)} 的报错指向 {safe_name(callee)}",
                             _examples(items, 3))  # fmt: skip
            sub.chain = sorted(
                [*(s for s in sub.chain if s.role != "alert"), step, ctx.alert_step], key=lambda s: s.ts
            )
            sub.keys = ctx.keys
            sub.confidence = round(sub.confidence * 0.95, 3)
            sub.details["via_callee"] = callee
            sub.root_cause_zh = f"{safe_name(ctx.w)} 的报错来自下游 {safe_name(callee)}：" + sub.root_cause_zh
            sub.root_cause_en = f"{ctx.w} fails because of {callee}: " + sub.root_cause_en
            return sub
    return None


# ---------------------------------------------------------------- speech

_SPOKEN_MAX_CHARS = 150  # ≈ 30 s of Chinese speech at ~5 characters per second


def render_spoken(trace: Trace, timezone: str = "Asia/Shanghai") -> list[str]:
    """Short Chinese sentences for the robot: what broke, why (who changed what), the fix, and the question."""
    tz = ZoneInfo(timezone)
    w = safe_name(trace.workload) or "该服务"
    alerted = safe_name(trace.keys.workload) or w  # differs from w when the cause is in a callee
    # short opening: the cause should be heard within a few seconds of the alert
    out = [f"{_hm(trace.keys.at, tz)}，{alerted} 告警。"]
    if not trace.found:
        out.append("我在日志里没有找到明确的原因。")
        out.append("建议人工排查最近的日志、事件和变更。")
        return out
    d = trace.details
    if trace.cause == "bad_image" and trace.changed_by:
        rb = trace.rollback
        when = _hm(rb.changed_at, tz) if rb else ""
        tag = safe_name(d.get("bad_tag", ""), 60)
        out.append(
            f"原因是 {trace.changed_by}{' 在 ' + when if when else ''} 把 {w} 的镜像改成了 {tag}，这个镜像拉取失败，新 Pod 起不来。"
        )
    else:
        out.append("原因：" + _shorten(trace.root_cause_zh, 70))
    out.append("建议：" + _shorten(trace.fix_zh, 40))
    if trace.rollback is not None:
        old = trace.rollback.image
        if old:
            out[-1] = f"建议回滚到上一个镜像 {safe_name(image_tag(old), 60)}。"
        out.append("是否需要回滚？")
    excess = sum(len(s) for s in out) - _SPOKEN_MAX_CHARS
    if excess > 0:  # keep the question and the fix whole; the cause sentence gives way
        out[1] = _shorten(out[1], max(20, len(out[1]) - excess))
    return out


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    stop = max(cut.rfind("，"), cut.rfind("。"))
    return (cut[:stop] if stop > limit // 2 else cut.rstrip("，、 ")) + "。"


__all__ = [
    "AFTER_S",
    "BEFORE_S",
    "CAUSES",
    "AlertKeys",
    "EvidenceLine",
    "RollbackTarget",
    "Trace",
    "TraceStep",
    "render_spoken",
    "safe_name",
    "trace",
]
