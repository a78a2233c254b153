"""Cause rules over Kubernetes semantics: one small object each, ``match(ctx) -> Cause | None``, tried in order.

A change is linked to the alarmed workload by what Kubernetes records (the workload itself; an object its pod
template references — ConfigMap, Secret, service account — seen in an audit body), else by namespace, time
before the first symptom and semantic fit (auth errors ↔ Secrets, config parse errors ↔ ConfigMaps, image pull
errors ↔ image changes, permission errors ↔ RBAC). Errors that state their own cause (expired certificates,
DNS timeouts, full disks, refused connections to a named service) are causes. A rule that is not sure returns
None and the next one is tried; the last resort is the symptom tracer (`agents.tracer.symptoms`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from agents.evidence import Evidence
from agents.tracer.context import Change, Ctx, event_text, safe_name, speakable_actor
from agents.tracer.model import Cause, CauseKind, Undo, UndoKind

AUTH_RE = re.compile(
    r"Access denied for user|password authentication failed|authentication failed|invalid credentials|"
    r"\b401\b|Unauthorized|WRONGPASS|NOAUTH|invalid api[ _-]?key|invalid_client|SignatureDoesNotMatch|"
    r"AuthFailure|Login failed for user",
    re.IGNORECASE,
)
CONFIG_RE = re.compile(
    r"config(?:uration)?\b.{0,60}\b(?:error|invalid|failed|parse|parsing)|"
    r"(?:failed to|cannot|could not|unable to) (?:load|parse|read) (?:the )?config|"
    r"Error parsing configuration|yaml: line \d+|json: cannot unmarshal|toml: |"
    r"invalid value .{0,40} for (?:field|key|option)|unknown (?:configuration )?(?:field|key|option)",
    re.IGNORECASE,
)
FORBIDDEN_RE = re.compile(r'forbidden: User "([^"]{1,200})" cannot (\w+) resource "([^"]{1,100})"')
DNS_RE = re.compile(
    r"lookup \S+ on [\d.:\[\]a-f]+: .{0,120}(?:i/o timeout|no such host|server misbehaving)|EAI_AGAIN|"
    r"Temporary failure in name resolution|UnknownHostException|Name or service not known|NXDOMAIN",
)
CERT_RE = re.compile(
    r"x509: certificate has expired|certificate has expired|CertificateExpiredException|"
    r"certificate (?:is )?(?:not yet valid|expired)",
    re.IGNORECASE,
)
DISK_RE = re.compile(r"no space left on device|disk quota exceeded|ENOSPC", re.IGNORECASE)
CONN_RE = re.compile(
    r"connection refused|Communications link failure|ECONNREFUSED|connection pool timeout|"
    r"Failed to establish a new connection|failed: Connection refused|connect: connection reset",
    re.IGNORECASE,
)
_URL_HOST = re.compile(r"https?://([A-Za-z0-9.-]{3,200})")
_HOST_KV = re.compile(r"""host=['"]([A-Za-z0-9.-]{3,200})['"]|connecting to ([A-Za-z0-9.-]{3,200}):\d+""")
_SVC_FQDN = re.compile(r"\b([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?\b")
_SVC_PORT = re.compile(r"(?<![\w.-])([a-z][-a-z0-9]{1,62}[a-z0-9]):(\d{2,5})\b")
_QUOTA = re.compile(r"exceeded quota: ([a-z0-9][-a-z0-9.]{0,252})")
_STORAGE_CLASS = re.compile(r'storageclass\.storage\.k8s\.io "([^"]{1,100})" not found')
_KILLED = re.compile(r"Killed process \d+ \(([^)]{1,60})\)")
_MEM = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]i?|[kmgt]|)$")
_SCALED = re.compile(r"Scaled down replica set \S+ to (\d+)(?: from (\d+))?")
NODE_BAD_REASONS = ("NodeNotReady", "EvictionThresholdMet", "NodeHasDiskPressure", "NodeHasMemoryPressure",
                    "NodeHasPIDPressure", "FreeDiskSpaceFailed", "ImageGCFailed", "Rebooted", "SystemOOM")  # fmt: skip
POD_NODE_REASONS = ("Evicted", "NodeNotReady", "TaintManagerEviction", "Preempted", "NodeShutdown")
CRASH = ("BackOff",)
MIN_ERRORS = 2


class Rule(Protocol):
    name: str

    def match(self, ctx: Ctx) -> Cause | None: ...


def hm(ctx: Ctx, ts: float) -> str:
    return datetime.fromtimestamp(ts, ctx.tz).strftime("%H:%M")


def _quote(items: list[Evidence], n: int = 3) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for e in items:
        k = e.message[:80]
        if k in seen:
            continue
        seen.add(k)
        out.append(f"[{e.kind}] {e.object or e.pod or e.workload}: {e.message[:300]}")
        if len(out) >= n:
            break
    return tuple(out)


def _slots(
    ctx: Ctx, change: Change | None = None, *, words: dict[str, str] | None = None, **names: str
) -> dict[str, str]:
    """Template slots: names from the logs reduced to a safe alphabet; ``words`` are our own fixed phrases."""
    s = {"w": safe_name(ctx.workload), "ns": safe_name(ctx.namespace)}
    if change is not None:
        s.update(actor=speakable_actor(change.user), when=hm(ctx, change.ts), obj=safe_name(change.name),
                 user=safe_name(change.user, 100))  # fmt: skip
    s.update({k: safe_name(v, 120) for k, v in names.items()})
    s.update(words or {})
    return s


def _crash_pods(ctx: Ctx) -> list[Evidence]:
    return [e for e in ctx.warnings if e.reason == "BackOff" and "pulling image" not in e.message]


def _pick(changes: list[Change], want: Callable[[Change], bool], onset: float | None) -> Change | None:
    """The latest change satisfying ``want`` (closest before the symptoms)."""
    hits = [c for c in changes if want(c)]
    if not hits:
        return None
    if onset is not None:
        hits.sort(key=lambda c: (c.ts <= onset + 120, c.ts))
    return hits[-1]


def _linked(ctx: Ctx, c: Change) -> float:
    """How strongly a change of an object is tied to the workload: 1.0 recorded reference, 0.7 same namespace."""
    if c.name == ctx.workload:
        return 1.0
    if c.object in ctx.workload_refs():
        return 1.0
    return 0.7 if c.namespace == ctx.namespace or not ctx.namespace else 0.0


def _workload_change(ctx: Ctx, c: Change) -> bool:
    return c.name == ctx.workload and c.resource in ("deployments", "statefulsets", "daemonsets")


# ---------------------------------------------------------------- change rules


class BadImageRule:
    """Image pull failures for an image somebody just set → roll the image back."""

    name = "bad_image"

    def match(self, ctx: Ctx) -> Cause | None:
        pulls = [e for e in ctx.warnings if ("pull" in e.message.lower() and "image" in e.message.lower())
                 or "ErrImagePull" in e.message or "ImagePullBackOff" in e.message]  # fmt: skip
        bad = next((m.group(1) for e in pulls if (m := re.search(r'image "([^"\s]{1,300})"', e.message))), "")
        if len(pulls) < 2 or not bad:
            return None
        change = _pick(ctx.changes_before(pulls[0].ts), lambda c: _workload_change(ctx, c) and bad in c.images.values(),
                       pulls[0].ts)  # fmt: skip
        tag = _tag(bad)
        if change is None:
            return Cause(CauseKind.IMAGE_PULL, f"image/{bad}", ctx.namespace, when=pulls[0].ts,
                         evidence=_quote(pulls), confidence=0.6, slots=_slots(ctx, tag=tag),
                         undo=Undo(UndoKind.MANUAL, ctx.namespace, f"deployments/{ctx.workload}",
                                   manual_zh=f"确认镜像 {safe_name(tag)} 已推送到仓库、仓库凭据有效。"))  # fmt: skip
        old = next(iter(change.old_images.values()), "")
        return Cause(CauseKind.BAD_IMAGE, change.object, ctx.namespace, change.user, change.ts,
                     _quote([change.e, *pulls]), 0.9,
                     Undo(UndoKind.ROLLBACK_IMAGE, ctx.namespace, change.object, image=old,
                          manual_zh=f"把 {safe_name(ctx.workload)} 回滚到上一个镜像{' ' + safe_name(_tag(old)) if old else ''}。"),
                     _slots(ctx, change, tag=tag, old_tag=_tag(old) if old else "", bad_image=bad, old_image=old))  # fmt: skip


class SecretChangeRule:
    """Authentication errors after a Secret the workload uses (or one in its namespace) changed."""

    name = "secret_change"

    def match(self, ctx: Ctx) -> Cause | None:
        auth = ctx.own_matching(AUTH_RE)
        if len(auth) < MIN_ERRORS:
            return None
        refs = ctx.workload_refs()
        known = [r for r in refs if r.startswith("secrets/")]
        cands = [c for c in ctx.changes_before(auth[0].ts, 60) if c.resource == "secrets"
                 and (c.object in refs or not known)]  # fmt: skip

        def fit(c: Change) -> tuple[int, int, float]:
            # recorded reference first; then credentials over TLS certificates (auth errors are not x509 errors)
            return (c.object in refs, not _is_tls_secret(c), c.ts)

        change = max(cands, key=fit, default=None)
        if change is None:
            return None
        link = _linked(ctx, change)
        name = safe_name(change.name)
        return Cause(CauseKind.SECRET_CHANGE, change.object, ctx.namespace, change.user, change.ts,
                     _quote([change.e, *auth]), round(0.6 + 0.3 * link, 2),
                     Undo(UndoKind.MANUAL, ctx.namespace, change.object,
                          manual_zh=f"恢复 Secret {name} 的上一版凭据，或把新凭据同步到依赖它的服务，再重启 {safe_name(ctx.workload)}。"),
                     _slots(ctx, change))  # fmt: skip


class ConfigChangeRule:
    """Configuration errors or crashes after a ConfigMap the workload reads was changed → restore it."""

    name = "config_change"

    def match(self, ctx: Ctx) -> Cause | None:
        conf = ctx.own_matching(CONFIG_RE)
        crash = _crash_pods(ctx)
        if len(conf) < MIN_ERRORS and len(crash) < 2:
            return None
        refs = ctx.workload_refs()
        first = min([e.ts for e in conf[:1] + crash[:1]])

        def fits(c: Change) -> bool:
            if c.resource != "configmaps" or (c.verb == "delete" and c.object not in refs):
                return c.resource == "configmaps" and c.object in refs
            return c.object in refs or (bool(conf) and c.namespace == ctx.namespace)

        text = " ".join(e.message for e in conf[:50])

        def fit(c: Change) -> tuple[int, int, float]:
            # recorded reference first; then a ConfigMap whose name or keys the errors mention; then the latest
            data = c.detail("config") or {}
            keys = [str(k) for k in data] if isinstance(data, dict) else []
            mentioned = c.name in text or any(len(k) >= 4 and k in text for k in keys)
            return (c.object in refs, mentioned, c.ts)

        change = max((c for c in ctx.changes_before(first, 60) if fits(c)), key=fit, default=None)
        if change is None:
            return None
        name = safe_name(change.name)
        previous = _previous_config(ctx, change)
        if previous is not None:
            undo = Undo(UndoKind.RESTORE_CONFIG, change.namespace or ctx.namespace, change.object, data=previous,
                        manual_zh=f"恢复配置 {name} 的上一版本，再重启 {safe_name(ctx.workload)}。")  # fmt: skip
        else:
            undo = Undo(UndoKind.MANUAL, ctx.namespace, change.object,
                        manual_zh=f"审计日志里没有配置 {name} 的上一版本，请手工恢复它，再重启 {safe_name(ctx.workload)}。")  # fmt: skip
        link = _linked(ctx, change)
        return Cause(CauseKind.CONFIG_CHANGE, change.object, ctx.namespace, change.user, change.ts,
                     _quote([change.e, *(conf or crash)]), round(0.55 + 0.35 * link, 2), undo, _slots(ctx, change))  # fmt: skip


def _previous_config(ctx: Ctx, change: Change) -> dict[str, str] | None:
    """The ConfigMap's data before ``change``, when an earlier audit body holds all of it."""
    for h in sorted(ctx.history + ctx.changes, key=lambda c: c.ts, reverse=True):
        if h.ts >= change.ts or h.object != change.object or h.verb == "delete":
            continue
        data = h.detail("config")
        if isinstance(data, dict) and h.detail("config_complete") and h.verb in ("create", "update"):
            return {str(k): str(v) for k, v in data.items()}
    return None


class RbacChangeRule:
    """Permission errors of the workload's service account after a Role/RoleBinding changed."""

    name = "rbac_change"

    def match(self, ctx: Ctx) -> Cause | None:
        forb = ctx.own_matching(FORBIDDEN_RE)
        sas = {m.group(1) for e in forb if (m := FORBIDDEN_RE.search(e.message))}
        denied = [d for d in ctx.denied if d.user.startswith("system:serviceaccount:")
                  and (d.user in sas or d.user.rsplit(":", 1)[-1].startswith(ctx.workload))]  # fmt: skip
        if len(forb) + len(denied) < MIN_ERRORS:
            return None
        first = min(e.ts for e in forb[:1] + denied[:1])
        change = _pick(ctx.changes_before(first), lambda c: c.resource in ("roles", "rolebindings", "clusterroles",
                                                                    "clusterrolebindings"), first)  # fmt: skip
        if change is None or change.ts > first + 60:
            return None
        sa = next(iter(sas), denied[0].user if denied else "")
        verb = "删除了" if change.verb == "delete" else "修改了"
        return Cause(CauseKind.RBAC_CHANGE, change.object, ctx.namespace, change.user, change.ts,
                     _quote([change.e, *forb, *denied]), 0.85,
                     Undo(UndoKind.MANUAL, ctx.namespace, change.object,
                          manual_zh=f"恢复 {_RBAC_ZH.get(change.resource, '权限对象')} {safe_name(change.name)}，让 {speakable_actor(sa)} 重新拥有所需权限。"),
                     _slots(ctx, change, words={"sa": speakable_actor(sa), "verb": verb, "kind_zh": _RBAC_ZH.get(change.resource, "")}))  # fmt: skip


def _is_tls_secret(c: Change) -> bool:
    """A TLS certificate secret (conventionally ``*-tls`` / ``*cert*``, renewed by cert-manager)."""
    low = c.name.lower()
    return "tls" in low or "cert" in low or c.user.startswith("system:serviceaccount:cert-manager:")


_RBAC_ZH = {
    "roles": "角色",
    "rolebindings": "角色绑定",
    "clusterroles": "集群角色",
    "clusterrolebindings": "集群角色绑定",
}


class QuotaRule:
    """Pods cannot be created: the namespace's ResourceQuota is exhausted."""

    name = "quota_exceeded"

    def match(self, ctx: Ctx) -> Cause | None:
        fails = [e for e in ctx.warnings if e.reason == "FailedCreate" and _QUOTA.search(e.message)]
        if not fails:
            return None
        m = _QUOTA.search(fails[0].message)
        q = m.group(1) if m else ""
        change = _pick(ctx.changes, lambda c: c.resource == "resourcequotas" and c.name == q and c.ts <= fails[0].ts,
                       fails[0].ts)  # fmt: skip
        return Cause(CauseKind.QUOTA_EXCEEDED, f"resourcequotas/{q}", ctx.namespace,
                     change.user if change else "", change.ts if change else fails[0].ts,
                     _quote(([change.e] if change else []) + fails), 0.85,
                     Undo(UndoKind.MANUAL, ctx.namespace, f"resourcequotas/{q}",
                          manual_zh=f"调高配额 {safe_name(q)}，或降低 {safe_name(ctx.workload)} 的资源请求。"),
                     _slots(ctx, change, obj=q) if change else _slots(ctx, obj=q))  # fmt: skip


class StorageClassRule:
    """Volumes cannot be provisioned: the StorageClass does not exist."""

    name = "missing_storage_class"

    def match(self, ctx: Ctx) -> Cause | None:
        hits = [(e, m.group(1)) for e in ctx.warnings if (m := _STORAGE_CLASS.search(e.message))]
        if not hits:
            return None
        sc = hits[0][1]
        change = _pick(ctx.changes, lambda c: c.name == ctx.workload or sc in (c.detail("storage_classes") or []),
                       hits[0][0].ts)  # fmt: skip
        return Cause(CauseKind.MISSING_STORAGE_CLASS, f"storageclasses/{sc}", ctx.namespace,
                     change.user if change else "", change.ts if change else hits[0][0].ts,
                     _quote(([change.e] if change else []) + [e for e, _ in hits]), 0.85,
                     Undo(UndoKind.MANUAL, ctx.namespace, f"storageclasses/{sc}",
                          manual_zh=f"创建存储类 {safe_name(sc)}，或把 {safe_name(ctx.workload)} 改用已有的存储类。"),
                     _slots(ctx, change, sc=sc) if change else _slots(ctx, sc=sc))  # fmt: skip


# ---------------------------------------------------------------- platform and dependency rules


class NodeRule:
    """The workload's pods were evicted or lost with their node (pressure, NotReady, full disk)."""

    name = "node_pressure"

    def match(self, ctx: Ctx) -> Cause | None:
        pod_ev = [e for e in ctx.events if e.reason in POD_NODE_REASONS]
        disk = ctx.own_matching(DISK_RE)
        if not pod_ev and len(disk) < MIN_ERRORS:
            return None
        hosts = set(ctx.hosts) | {e.host for e in pod_ev if e.host}
        bad = [e for e in ctx.node_events if e.reason in NODE_BAD_REASONS]
        near = [e for e in bad if e.object.partition("/")[2] in hosts or e.host in hosts]
        if (
            not near and pod_ev
        ):  # NotReady: the node controller reports the pod without the node; match by time
            t = pod_ev[0].ts
            near = [e for e in bad if abs(e.ts - t) <= 600]
        if not near:
            if not hosts or not (pod_ev or disk):
                return None
            node = sorted(hosts)[0]
        else:
            node = near[0].object.partition("/")[2] or near[0].host
        why = _node_why(near, pod_ev, disk)
        first = min([e.ts for e in near[:1] + pod_ev[:1] + disk[:1]])
        kind = CauseKind.DISK_FULL if disk and not pod_ev else CauseKind.NODE_PRESSURE
        return Cause(kind, f"Node/{node}", ctx.namespace, "", first, _quote(near + pod_ev + disk), 0.8 if near else 0.65,
                     Undo(UndoKind.MANUAL, "", f"Node/{node}", manual_zh=_NODE_FIX[why].format(node=safe_name(node))),
                     _slots(ctx, node=node, why=why))  # fmt: skip


_NODE_WHY_ZH = {"notready": "节点失联（NotReady）", "disk": "节点磁盘空间不足", "memory": "节点内存不足",
                "pressure": "节点资源紧张"}  # fmt: skip
_NODE_FIX = {
    "notready": "检查节点 {node} 的 kubelet 和网络，必要时隔离并排空该节点。",
    "disk": "清理节点 {node} 的磁盘（日志、镜像、临时文件），或扩容磁盘。",
    "memory": "给节点 {node} 腾出内存，或为 Pod 设置合理的内存请求。",
    "pressure": "检查节点 {node} 的资源使用，必要时排空该节点。",
}


def _node_why(near: list[Evidence], pod_ev: list[Evidence], disk: list[Evidence]) -> str:
    text = " ".join(e.reason + " " + e.message for e in near + pod_ev)
    if "NotReady" in text:
        return "notready"
    if disk or "Disk" in text or "ephemeral-storage" in text or "nodefs" in text:
        return "disk"
    if "memory" in text.lower():
        return "memory"
    return "pressure"


class DnsRule:
    """Name resolution failing; linked to cluster DNS (coredns) trouble in kube-system when it shows."""

    name = "dns_failure"

    def match(self, ctx: Ctx) -> Cause | None:
        dns = ctx.own_matching(DNS_RE)
        if len(dns) < MIN_ERRORS:
            return None
        core = [e for e in ctx.system_events if "coredns" in (e.workload + e.object) and e.level != "INFO"]
        core += [
            e for e in ctx.node_events if e.reason in ("OOMKilling", "SystemOOM") and "(coredns)" in e.message
        ]
        why = "oom" if any("OOM" in e.reason or "Killed process" in e.message for e in core) else (
            "crash" if core else "")  # fmt: skip
        return Cause(CauseKind.DNS_FAILURE, "kube-system/coredns", "kube-system", "", dns[0].ts,
                     _quote(core + dns), 0.85 if core else 0.65,
                     Undo(UndoKind.MANUAL, "kube-system", "deployments/coredns",
                          manual_zh="检查 kube-system 里的 coredns：" + ("提高它的内存上限并" if why == "oom" else "") + "确认它的 Pod 正常运行。"),
                     _slots(ctx, why=why))  # fmt: skip


class CertRule:
    """TLS calls fail because a certificate expired (the error says so)."""

    name = "cert_expired"

    def match(self, ctx: Ctx) -> Cause | None:
        cert = ctx.own_matching(CERT_RE)
        if len(cert) < MIN_ERRORS:
            return None
        host = ""
        for e in cert:
            m = _URL_HOST.search(e.message) or _HOST_KV.search(e.message)
            if m:
                host = next(g for g in m.groups() if g)
                break
        obj = f"host/{host}" if host else f"deployments/{ctx.workload}"
        return Cause(CauseKind.CERT_EXPIRED, obj, ctx.namespace, "", cert[0].ts, _quote(cert), 0.9,
                     Undo(UndoKind.MANUAL, ctx.namespace, obj,
                          manual_zh=(f"更新 {safe_name(host)} 的证书" if host else "更新过期的证书")
                          + f"，或更新 {safe_name(ctx.workload)} 信任的证书。"),
                     _slots(ctx, host=host))  # fmt: skip


class UpstreamRule:
    """Connections refused by a service the errors name → that service, with its own trouble when it shows."""

    name = "upstream_down"

    def match(self, ctx: Ctx) -> Cause | None:
        conn = ctx.own_matching(CONN_RE)
        if len(conn) < MIN_ERRORS:
            return None
        counts: dict[tuple[str, str], int] = {}
        for e in conn:
            for name, ns in named_services(e.message):
                if name != ctx.workload:
                    counts[(name, ns)] = counts.get((name, ns), 0) + 1
        if not counts:
            return None
        (up, up_ns), _ = max(counts.items(), key=lambda kv: kv[1])
        trouble = [e for e in ctx.upstream.get(up, []) if e.level != "INFO" or e.kind == "audit"]
        up_ns = up_ns or next((e.namespace for e in trouble if e.namespace), "")
        why = _upstream_why(trouble)
        obj = f"{up_ns}/{up}" if up_ns else f"service/{up}"
        return Cause(CauseKind.UPSTREAM_DOWN, obj, up_ns or ctx.namespace,
                     next((e.user for e in trouble if e.kind == "audit"), ""), conn[0].ts, _quote(trouble + conn),
                     0.85 if trouble else 0.7,
                     Undo(UndoKind.MANUAL, up_ns or ctx.namespace, f"services/{up}",
                          manual_zh=f"先恢复依赖服务 {safe_name(up)}" + (f"（{_UP_WHY_ZH[why]}）" if why else "") + "，再观察 "
                          + safe_name(ctx.workload) + " 是否恢复。"),
                     _slots(ctx, up=up, why=why))  # fmt: skip


_UP_WHY_ZH = {
    "oom": "它内存溢出被杀",
    "crash": "它在反复重启",
    "deleted": "它的 Pod 被人删除",
    "probe": "它健康检查失败",
}


def _upstream_why(trouble: list[Evidence]) -> str:
    if any(e.kind == "audit" and e.verb == "delete" for e in trouble):
        return "deleted"
    if any(e.reason in ("OOMKilling", "SystemOOM") or "OOMKilled" in e.message for e in trouble):
        return "oom"
    if any(e.reason == "BackOff" for e in trouble):
        return "crash"
    if any(e.reason == "Unhealthy" for e in trouble):
        return "probe"
    return ""


def named_services(text: str) -> list[tuple[str, str]]:
    out = [(m.group(1), m.group(3)) for m in _SVC_FQDN.finditer(text)]
    if not out:
        out = [
            (m.group(1), "")
            for m in _SVC_PORT.finditer(text)
            if not m.group(1).startswith(("tcp", "udp", "http"))
        ]
    return out


class OomRule:
    """OOM kills of the workload's containers; a lowered memory limit just before is the cause."""

    name = "oom_kill"

    def match(self, ctx: Ctx) -> Cause | None:
        crash = _crash_pods(ctx)
        hosts = set(ctx.hosts)
        kills = [e for e in ctx.node_events if e.reason in ("OOMKilling", "SystemOOM")
                 and (e.object.partition("/")[2] in hosts or e.host in hosts)
                 and "(coredns)" not in e.message]  # fmt: skip
        texts = [
            e for e in ctx.own + ctx.warnings if "OOMKilled" in e.message or "OutOfMemoryError" in e.message
        ]
        if not crash or not (kills or texts):
            return None
        first = min([e.ts for e in kills[:1] + crash[:1] + texts[:1]])
        change = _pick(ctx.changes_before(first), lambda c: _workload_change(ctx, c) and bool(c.detail("memory_limits")),
                       first)  # fmt: skip
        if change is not None and _lowered(ctx, change):
            return Cause(CauseKind.RESOURCE_LIMITS, change.object, ctx.namespace, change.user, change.ts,
                         _quote([change.e, *kills, *crash]), 0.85,
                         Undo(UndoKind.ROLLBACK_REVISION, ctx.namespace, change.object,
                              manual_zh=f"把 {safe_name(ctx.workload)} 回滚到上一个版本，恢复原来的内存上限。"),
                         _slots(ctx, change, limit=_limit(change)))  # fmt: skip
        return Cause(CauseKind.OOM_KILL, f"deployments/{ctx.workload}", ctx.namespace, "", first,
                     _quote(kills + crash + texts), 0.75,
                     Undo(UndoKind.MANUAL, ctx.namespace, f"deployments/{ctx.workload}",
                          manual_zh=f"提高 {safe_name(ctx.workload)} 的内存上限，或排查内存泄漏。"),
                     _slots(ctx))  # fmt: skip


def _limit(c: Change) -> str:
    limits = c.detail("memory_limits") or {}
    return str(next(iter(limits.values()), "")) if isinstance(limits, dict) else ""


def _bytes(q: str) -> float | None:
    m = _MEM.match(q.strip())
    if not m:
        return None
    mult = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
            "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}.get(m.group(2), 1)  # fmt: skip
    return float(m.group(1)) * mult


def _lowered(ctx: Ctx, c: Change) -> bool:
    """The change lowered a memory limit (or set one we cannot compare: a fresh limit before OOM kills counts)."""
    new = _bytes(_limit(c))
    for h in sorted(ctx.history + ctx.changes, key=lambda x: x.ts, reverse=True):
        if h.ts < c.ts and h.object == c.object and h.detail("memory_limits"):
            old = _bytes(_limit(h))
            return new is not None and old is not None and new < old
    return new is not None and new <= 256 * 1024**2


class ProbeChangeRule:
    """Probe failures right after the pod template's probes changed (same image) → undo that revision."""

    name = "probe_change"

    def match(self, ctx: Ctx) -> Cause | None:
        bad = [e for e in ctx.warnings if e.reason == "Unhealthy"]
        if len(bad) < 3:
            return None
        change = _pick(ctx.changes_before(bad[0].ts), lambda c: _workload_change(ctx, c) and bool(c.detail("probes"))
                       and not c.old_images, bad[0].ts)  # fmt: skip
        if change is None or change.ts > bad[0].ts:
            return None
        return Cause(CauseKind.PROBE_CHANGE, change.object, ctx.namespace, change.user, change.ts,
                     _quote([change.e, *bad]), 0.8,
                     Undo(UndoKind.ROLLBACK_REVISION, ctx.namespace, change.object,
                          manual_zh=f"把 {safe_name(ctx.workload)} 回滚到上一个版本，恢复原来的健康检查配置。"),
                     _slots(ctx, change))  # fmt: skip


class CrashAfterImageRule:
    """Containers crash right after a new image was rolled out → roll the image back."""

    name = "crash_after_change"

    def match(self, ctx: Ctx) -> Cause | None:
        crash = _crash_pods(ctx)
        fatal = [e for e in ctx.own if e.level == "FATAL" or "panic" in e.message or "Exception" in e.message]
        if len(crash) < 2 and len(fatal) < 3:
            return None
        first = min([e.ts for e in crash[:1] + fatal[:1]])
        change = _pick(
            ctx.changes_before(first), lambda c: _workload_change(ctx, c) and bool(c.images), first
        )
        if change is None or change.ts > first + 60:
            return None
        new = next(iter(change.images.values()))
        old = next(iter(change.old_images.values()), "")
        undo = (Undo(UndoKind.ROLLBACK_IMAGE, ctx.namespace, change.object, image=old,
                     manual_zh=f"把 {safe_name(ctx.workload)} 回滚到上一个镜像 {safe_name(_tag(old))}。")
                if old else Undo(UndoKind.ROLLBACK_REVISION, ctx.namespace, change.object,
                                 manual_zh=f"把 {safe_name(ctx.workload)} 回滚到上一个版本。"))  # fmt: skip
        return Cause(CauseKind.CRASH_AFTER_CHANGE, change.object, ctx.namespace, change.user, change.ts,
                     _quote([change.e, *crash, *fatal]), 0.85 if old else 0.75, undo,
                     _slots(ctx, change, tag=_tag(new), old_tag=_tag(old) if old else "", bad_image=new, old_image=old))  # fmt: skip


class ScaledDownRule:
    """Saturation errors after somebody lowered the replicas or the HPA's bounds."""

    name = "scaled_down"

    def match(self, ctx: Ctx) -> Cause | None:
        if len(ctx.own) < 5:
            return None
        first = ctx.own[0].ts
        downs = [e for e in ctx.events if _SCALED.search(e.message)]

        def lowered(c: Change) -> bool:
            if c.resource == "horizontalpodautoscalers" and c.name == ctx.workload:
                return c.detail("max_replicas") is not None
            if _workload_change(ctx, c) and c.detail("replicas") is not None:
                return any(abs(e.ts - c.ts) <= 300 for e in downs) or int(c.detail("replicas")) <= 1
            return False

        change = _pick(ctx.changes_before(first), lowered, first)
        if change is None or change.ts > first:
            return None
        n = (
            change.detail("max_replicas")
            if change.resource == "horizontalpodautoscalers"
            else change.detail("replicas")
        )
        what = "HPA 最大副本数" if change.resource == "horizontalpodautoscalers" else "副本数"
        return Cause(CauseKind.SCALED_DOWN, change.object, ctx.namespace, change.user, change.ts,
                     _quote([change.e, *downs, *ctx.own]), 0.75,
                     Undo(UndoKind.MANUAL, ctx.namespace, change.object,
                          manual_zh=f"把 {safe_name(ctx.workload)} 的{what}调回原来的值。"),
                     _slots(ctx, change, n=str(n), words={"what": what}))  # fmt: skip


def _tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else last


# the order is the precedence: specific, self-evident causes first; broad symptom rules last
RULES: tuple[Rule, ...] = (
    BadImageRule(),
    QuotaRule(),
    StorageClassRule(),
    SecretChangeRule(),
    RbacChangeRule(),
    ConfigChangeRule(),
    NodeRule(),
    DnsRule(),
    CertRule(),
    UpstreamRule(),
    OomRule(),
    ProbeChangeRule(),
    CrashAfterImageRule(),
    ScaledDownRule(),
)


def first_cause(ctx: Ctx, rules: tuple[Rule, ...] = RULES) -> tuple[Rule, Cause] | None:
    for rule in rules:
        cause = rule.match(ctx)
        if cause is not None:
            return rule, cause
    return None


__all__ = ["CONN_RE", "RULES", "Rule", "event_text", "first_cause", "named_services"]
