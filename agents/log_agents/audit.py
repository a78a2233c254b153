"""Kubernetes-audit agent: risky operations and workload/config changes (linked to the errors that followed).

Risky: RBAC changes (roles, clusterroles, rolebindings, clusterrolebindings), secret reads by people, exec /
attach / port-forward, deletes by people, denied requests. Changes: create/update/patch of workloads (image and
replica changes are read from the request object when the audit level recorded it) and of ConfigMaps; the
`correlate` module turns "change, then errors on the same workload" into ``change_before_errors``.

Request bodies are only decoded for the rare mutating requests; the get/list/watch flood costs a dict lookup.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from agents.findings import Finding
from agents.log_agents.common import AgentResult, DayClock, Miner, TemplateHistory, TemplateStats, clean_text
from agents.log_agents.correlate import Change, configmap_workload, correlate_changes
from agents.parsers.common import as_obj
from agents.records import LogKind, LogRecord

READ_VERBS = frozenset({"get", "list", "watch"})
MUTATING = frozenset({"create", "update", "patch", "delete", "deletecollection"})
RBAC = frozenset({"roles", "clusterroles", "rolebindings", "clusterrolebindings"})
WORKLOADS = frozenset({"deployments", "statefulsets", "daemonsets", "cronjobs", "jobs", "replicasets"})
EXEC_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
POWERFUL_ROLES = frozenset({"cluster-admin", "admin", "system:masters"})
BOT_MARKERS = ("bot", "ci-", "-ci", "argocd", "jenkins", "gitlab", "flux", "terraform")
MAX_ITEMS = 200
FEW_REQUESTS = 30


def is_system(user: str) -> bool:
    return user.startswith("system:") or not user


def is_human(user: str) -> bool:
    low = user.lower()
    return not is_system(user) and not any(m in low for m in BOT_MARKERS)


def decode_audit(raw: str) -> dict[str, Any] | None:
    """The audit event of a raw line (plain, CLS-shipped with fields at top level, or wrapped)."""
    if not raw or raw[0] != "{":
        return None
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    for key in ("event", "audit", "__CONTENT__"):
        inner = obj.get(key)
        if isinstance(inner, str) and inner.startswith("{"):
            try:
                inner = json.loads(inner)
            except ValueError:
                inner = None
        if isinstance(inner, dict) and ("verb" in inner or "auditID" in inner):
            return inner
    props = obj.get("properties")
    if isinstance(props, dict) and isinstance(props.get("log"), str):
        try:
            inner = json.loads(props["log"])
            if isinstance(inner, dict):
                return inner
        except ValueError:
            pass
    return obj


def images_in(obj: Any) -> dict[str, str]:
    """container name → image from a workload/pod object, a strategic-merge patch or a JSON patch."""
    out: dict[str, str] = {}
    if isinstance(obj, list):  # JSON patch: [{"op": "replace", "path": ".../containers/0/image", "value": …}]
        for op in obj:
            if (
                isinstance(op, dict)
                and str(op.get("path", "")).endswith("/image")
                and isinstance(op.get("value"), str)
            ):
                out[str(op["path"]).split("/")[-2]] = op["value"]
        return out
    if not isinstance(obj, dict):
        return out
    spec = as_obj(obj.get("spec"))
    tpl = as_obj(spec.get("template"))
    tpl_spec = tpl.get("spec")
    pod_spec: dict[str, Any] = tpl_spec if isinstance(tpl_spec, dict) else spec
    if "jobTemplate" in spec:  # CronJob
        jt = spec["jobTemplate"] if isinstance(spec["jobTemplate"], dict) else {}
        pod_spec = ((jt.get("spec") or {}).get("template") or {}).get("spec") or {}
    for key in ("initContainers", "containers"):
        for i, c in enumerate(pod_spec.get(key) or []):
            if isinstance(c, dict) and isinstance(c.get("image"), str):
                out[str(c.get("name") or f"{key}[{i}]")] = c["image"]
    return out


@dataclass
class UserOps:
    rbac: list[dict[str, Any]] = field(default_factory=list)
    secret_reads: list[dict[str, Any]] = field(default_factory=list)
    execs: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)
    denied: list[dict[str, Any]] = field(default_factory=list)
    source_ips: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)


class AuditAgent:
    kind = LogKind.AUDIT

    def __init__(self, clock: DayClock, history: TemplateHistory | None = None) -> None:
        self.clock = clock
        self.start = clock.start
        self.history = history
        self.stats = TemplateStats(LogKind.AUDIT, clock)
        self.users: dict[str, int] = {}
        self.ops: dict[str, UserOps] = {}
        self.changes: list[Change] = []
        self.workload_seen: set[str] = set()

    def _ops(self, user: str) -> UserOps:
        ops = self.ops.get(user)
        if ops is None:
            ops = self.ops[user] = UserOps()
        return ops

    def observe(self, rec: LogRecord, tid: int) -> None:
        self.stats.add(rec, tid)
        user = rec.user
        self.users[user] = self.users.get(user, 0) + 1
        f = rec.fields
        verb = f.get("verb", "")
        res = f.get("resource", "")
        sub = f.get("subresource", "")
        code = f.get("code", 0)
        if rec.workload:
            self.workload_seen.add(rec.workload)
        if f.get("decision") == "forbid" or code in (401, 403):
            self._note(user, "denied", rec, verb, res)
            return
        if sub in EXEC_SUBRESOURCES:
            self._note(user, "execs", rec, verb, res)
            return
        if verb in READ_VERBS:
            if res == "secrets" and not is_system(user):
                self._note(user, "secret_reads", rec, verb, res)
            return
        if verb not in MUTATING or (code and code >= 400):
            return
        if res in RBAC:
            self._rbac(rec, user, verb, res)
        elif (res in WORKLOADS and sub in ("", "scale")) or (res == "configmaps" and not is_system(user)):
            self._change(rec, user, verb, res, sub)
        if verb in ("delete", "deletecollection") and not is_system(user):
            self._note(user, "deletes", rec, verb, res)

    def _note(self, user: str, what: str, rec: LogRecord, verb: str, res: str) -> None:
        ops = self._ops(user)
        items = getattr(ops, what)
        if len(items) < MAX_ITEMS:
            items.append(
                {"ts": rec.ts, "verb": verb, "resource": res, "object": rec.object, "ns": rec.namespace}
            )
        ips = rec.fields.get("source_ips") or []
        if ips and len(ops.source_ips) < 10:
            ops.source_ips.add(str(ips[0]))
        if len(ops.examples) < 3:
            ops.examples.append(clean_text(rec.raw or rec.message))

    def _rbac(self, rec: LogRecord, user: str, verb: str, res: str) -> None:
        ev = decode_audit(rec.raw) or {}
        body = as_obj(ev.get("requestObject"))
        ref = as_obj(ev.get("objectRef"))
        role_ref = as_obj(body.get("roleRef"))
        subjects = [
            f"{s.get('kind', '')}:{s.get('name', '')}"
            for s in body.get("subjects") or []
            if isinstance(s, dict)
        ][:10]
        name = ref.get("name") or (body.get("metadata") or {}).get("name") or ""
        self._note(user, "rbac", rec, verb, res)
        self._ops(user).rbac[-1].update(
            name=str(name), role=str(role_ref.get("name") or ""), role_kind=str(role_ref.get("kind") or ""),
            subjects=subjects,
        )  # fmt: skip

    def _change(self, rec: LogRecord, user: str, verb: str, res: str, sub: str) -> None:
        ev = decode_audit(rec.raw) or {}
        body = ev.get("requestObject")
        name = rec.object.partition("/")[2]
        if not name and isinstance(body, dict):
            name = str((body.get("metadata") or {}).get("name") or "")
        ips = rec.fields.get("source_ips") or [""]
        c = Change(rec.ts, user, verb, res, sub, rec.namespace, name, workload=name if res in WORKLOADS else "",
                   source_ip=str(ips[0]), user_agent=str(rec.fields.get("user_agent", "")))  # fmt: skip
        if body is not None:
            if sub == "scale" or (
                isinstance(body, dict) and set(body) == {"spec"} and "replicas" in body["spec"]
            ):
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    c.replicas = int(body["spec"]["replicas"])
            else:
                c.images = images_in(body)
            if isinstance(body, dict):
                for t in (body.get("spec") or {}).get("volumeClaimTemplates") or []:
                    sc = ((t or {}).get("spec") or {}).get("storageClassName")
                    if sc:
                        c.storage_classes.append(str(sc))
        if len(self.changes) < 5000:
            self.changes.append(c)

    @property
    def workloads(self) -> set[str]:
        return self.workload_seen | {c.workload for c in self.changes if c.workload}

    def unusual(self, user: str) -> bool:
        """A person with very few requests today, or never seen on an earlier day."""
        if is_system(user):
            return False
        if self.users.get(user, 0) < FEW_REQUESTS:
            return True
        return self.history is not None and self.history.is_new_user(user, self.clock.day)

    def finish(
        self, miner: Miner, known: set[str] | None = None, context: dict[str, dict[str, Any]] | None = None
    ) -> AgentResult:
        """``context`` = {"business": BusinessAgent signals, "event": EventAgent signals} for correlation."""
        known = (known or set()) | self.workloads
        context = context or {}
        self.stats.canonicalize(miner)
        result = AgentResult(LogKind.AUDIT, templates=self.stats.templates(miner))
        self._resolve_changes(known)
        for user, ops in sorted(self.ops.items()):
            result.findings.extend(self._user_findings(user, ops))
        result.findings.extend(self._change_findings())
        linked = correlate_changes(
            self.changes, self.start, context.get("business", {}), context.get("event", {})
        )
        result.findings.extend(linked)
        for f in result.findings:
            if f.severity in ("critical", "high") or f.category == "workload_change":
                result.timeline.append(
                    {
                        "ts": f.first_ts,
                        "kind": "audit",
                        "what": f.title,
                        "user": f.user,
                        "workload": f.workload,
                        "id": f.id,
                    }
                )
        if self.history is not None:
            from agents.log_agents.common import template_hash

            self.history.update(
                self.clock.day,
                {template_hash("audit", r["template"]): r["template"] for r in result.templates},
                users=[u for u in self.users if not is_system(u)],
            )
        result.signals = {"changes": [c.to_dict() for c in self.changes[:500]], "users": dict(self.users)}
        return result

    def _resolve_changes(self, known: set[str]) -> None:
        last_image: dict[tuple[str, str, str], str] = {}
        for c in sorted(self.changes, key=lambda c: c.ts):
            if c.resource == "configmaps":
                c.workload = configmap_workload(c.name, known)
            for ctr, img in c.images.items():
                key = (c.namespace, c.workload, ctr)
                if key in last_image and last_image[key] != img:
                    c.old_images[ctr] = last_image[key]
                last_image[key] = img
        # an image change later undone (the old image set again) is marked, so nobody is told to roll back twice
        by_wl: dict[tuple[str, str], list[Change]] = {}
        for c in sorted(self.changes, key=lambda c: c.ts):
            if c.images:
                by_wl.setdefault((c.namespace, c.workload), []).append(c)
        for seq in by_wl.values():
            for i, c in enumerate(seq):
                for later in seq[i + 1 :]:
                    if c.old_images and any(later.images.get(k) == v for k, v in c.old_images.items()):
                        c.reverted_by, c.reverted_ts = later.user, later.ts
                        break

    def _user_findings(self, user: str, ops: UserOps) -> list[Finding]:
        out: list[Finding] = []
        odd = self.unusual(user)
        who = f"{user} (unusual: {self.users.get(user, 0)} requests today)" if odd else user
        base = {"user": user, "source_ips": sorted(ops.source_ips), "requests_today": self.users.get(user, 0),
                "unusual_user": odd}  # fmt: skip
        if ops.rbac:
            powerful = [
                r
                for r in ops.rbac
                if r.get("role") in POWERFUL_ROLES and r["verb"] in ("create", "update", "patch")
            ]
            sev = "critical" if powerful or odd else "high"
            first = (powerful or ops.rbac)[0]
            role = first.get("role") or "?"
            name = first.get("name") or first["object"]
            extra = f"，并读取了 {len(ops.secret_reads)} 次密钥" if ops.secret_reads else ""
            out.append(
                Finding(
                    kind=LogKind.AUDIT, category="risky_audit", severity=sev,
                    title=f"RBAC change by {who}: {first['verb']} {first['resource']} {name} → {role}"
                    + (f" (+{len(ops.rbac) - 1} more)" if len(ops.rbac) > 1 else ""),
                    summary_zh=f"{user} {_verb_zh(first['verb'])}了权限绑定 {name}，授予 {role}{extra}。",
                    count=len(ops.rbac), object=f"{first['resource']}/{name}", user=user,
                    first_ts=ops.rbac[0]["ts"], last_ts=ops.rbac[-1]["ts"], examples=ops.examples[:3],
                    evidence={**base, "risk": "rbac", "changes": ops.rbac[:20], "role": role,
                              "secret_reads": ops.secret_reads[:10], "denied": len(ops.denied)},
                )
            )  # fmt: skip
        if ops.secret_reads and is_human(user):
            sev = "high" if odd or ops.rbac else "medium"
            objs = sorted(
                {s["object"] if s["ns"] == "" else f"{s['ns']}/{s['object']}" for s in ops.secret_reads}
            )
            out.append(
                Finding(
                    kind=LogKind.AUDIT, category="risky_audit", severity=sev,
                    title=f"Secret reads by {who}: {len(ops.secret_reads)} ({', '.join(objs[:5])})",
                    summary_zh=f"{user} 读取了 {len(ops.secret_reads)} 次密钥。", count=len(ops.secret_reads),
                    user=user, object=objs[0] if objs else "", first_ts=ops.secret_reads[0]["ts"],
                    last_ts=ops.secret_reads[-1]["ts"], examples=ops.examples[:3],
                    evidence={**base, "risk": "secret_read", "objects": objs[:20]},
                )
            )  # fmt: skip
        if ops.execs:
            objs = sorted({e["object"] for e in ops.execs})
            out.append(
                Finding(
                    kind=LogKind.AUDIT, category="risky_audit", severity="high" if odd else "medium",
                    title=f"exec/attach into pods by {who}: {len(ops.execs)} ({', '.join(objs[:5])})",
                    summary_zh=f"{user} 进入容器执行命令 {len(ops.execs)} 次。", count=len(ops.execs), user=user,
                    first_ts=ops.execs[0]["ts"], last_ts=ops.execs[-1]["ts"], examples=ops.examples[:3],
                    evidence={**base, "risk": "exec", "objects": objs[:20]},
                )
            )  # fmt: skip
        if ops.deletes:
            objs = sorted({f"{d['ns']}/{d['object']}" if d["ns"] else d["object"] for d in ops.deletes})
            important = any(d["resource"] in {"namespaces", "persistentvolumeclaims", "persistentvolumes", "secrets",
                                              "deployments", "statefulsets", "customresourcedefinitions"}
                            for d in ops.deletes)  # fmt: skip
            out.append(
                Finding(
                    kind=LogKind.AUDIT, category="risky_audit", severity="high" if important else "medium",
                    title=f"Deletes by {who}: {len(ops.deletes)} ({', '.join(objs[:5])})",
                    summary_zh=f"{user} 删除了 {len(ops.deletes)} 个资源。", count=len(ops.deletes), user=user,
                    first_ts=ops.deletes[0]["ts"], last_ts=ops.deletes[-1]["ts"], examples=ops.examples[:3],
                    evidence={**base, "risk": "delete", "objects": objs[:20]},
                )
            )  # fmt: skip
        if ops.denied and not is_system(user):
            n = len(ops.denied)
            out.append(
                Finding(
                    kind=LogKind.AUDIT, category="risky_audit",
                    severity="high" if odd and ops.rbac else "medium" if n >= 5 or odd else "low",
                    title=f"Denied requests for {who}: {n}",
                    summary_zh=f"{user} 有 {n} 次请求被拒绝。", count=n, user=user,
                    first_ts=ops.denied[0]["ts"], last_ts=ops.denied[-1]["ts"], examples=ops.examples[:3],
                    evidence={**base, "risk": "denied",
                              "requests": [f"{d['verb']} {d['object']}" for d in ops.denied[:10]]},
                )
            )  # fmt: skip
        return out

    def _change_findings(self) -> list[Finding]:
        """One info finding per (user, workload) that people changed; routine bots are summarised by count."""
        grouped: dict[tuple[str, str, str], list[Change]] = {}
        for c in self.changes:
            grouped.setdefault((c.user, c.namespace, c.workload or c.name), []).append(c)
        out = []
        for (user, ns, w), cs in sorted(grouped.items(), key=lambda kv: kv[1][0].ts):
            last = cs[-1]
            out.append(
                Finding(
                    kind=LogKind.AUDIT, category="workload_change", severity="info" if not is_human(user) else "low",
                    title=f"{len(cs)} change(s) to {ns + '/' if ns else ''}{w} by {user}: {last.describe()}",
                    summary_zh=f"{last.describe_zh()}。", count=len(cs), namespace=ns, workload=w,
                    object=f"{last.resource}/{last.name}", user=user, first_ts=cs[0].ts, last_ts=last.ts,
                    evidence={"changes": [c.to_dict() for c in cs[:20]]},
                )
            )  # fmt: skip
        return out


def _verb_zh(verb: str) -> str:
    return {"create": "创建", "update": "修改", "patch": "修改", "delete": "删除"}.get(verb, verb)
