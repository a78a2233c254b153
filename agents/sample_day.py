"""Generator of a realistic day of logs for a small TKE cluster, with injected incidents and a ground truth.

Three kinds are written: business NDJSON (Chinese and English messages), Kubernetes Events (core/v1, and
events.k8s.io/v1 for the scheduler) and kube-apiserver audit events (audit.k8s.io/v1). Seven incidents are
injected at seeded times on seeded workloads (see `INCIDENT_TYPES`); `ground_truth.json` lists them with the
strings a report must mention.

The day is generated hour by hour and streamed to disk, so 5M lines need only one hour of lines in memory.
Two layouts can be written from the same stream:

* local: ``<root>/<owner>/<YYYY-MM-DD>/<kind>/<kind>-<YYYYMMDD>-<HH>.ndjson[.gz]``;
* CLS-to-COS mirror: ``<root>/<owner>/cos/<prefix>/%Y/%m/%d/%H/<yyyyMMddHHmm>_<partition>_<offset>.gz``, each line a
  CLS-shipped JSON object (``__TIMESTAMP__`` ms, ``__TAG__`` nested for events/audit and tiled for business…).

Both are the layouts `agents.sources.local.LocalSource` reads. The ground truth is always
``<root>/<owner>/<YYYY-MM-DD>/ground_truth.json`` (outside the kind folders, so sources never read it).
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agents.sources.base import DEFAULT_PREFIXES
from agents.sources.local import cos_mirror_dir, simple_dir

KINDS = ("business", "event", "audit")
KIND_SHARE = {"business": 0.72, "event": 0.06, "audit": 0.22}
COS_PREFIXES = {k.value: v for k, v in DEFAULT_PREFIXES.items()}
GROUND_TRUTH = "ground_truth.json"
REGISTRY = "ccr.ccs.tencentyun.com"
INCIDENT_TYPES = (
    "image_pull_failure",
    "oom_kill",
    "insufficient_memory",
    "unbound_pvc",
    "hpa_metrics",
    "configmap_change",
    "rbac_escalation",
)

# namespace -> deployments that serve traffic (business log producers)
APPS: dict[str, list[str]] = {
    "shop": ["web-frontend", "order-api", "cart-api", "product-api", "search-api"],
    "payment": ["payment-gateway", "billing-worker", "refund-api"],
    "user": ["user-api", "auth-service", "profile-api", "notification-worker"],
    "infra": ["redis-cache", "mysql-proxy"],
}
INCIDENT_APP_POOL = [(ns, w) for ns, ws in APPS.items() if ns != "infra" for w in ws if w != "web-frontend"]
STATEFUL_POOL = ["es-data", "kafka", "mongo", "rabbitmq", "clickhouse"]
STORAGE_CLASSES = ["fast-ssd", "cbs-premium-ssd", "ssd-retain", "local-nvme"]
HUMANS = ["alice", "bob", "carol", "dave", "erin"]
SUSPICIOUS_USERS = ["mallory", "trudy", "contractor-x", "tmp-ops", "intern-zhao"]
SYSTEM_USERS = [
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:serviceaccount:kube-system:replicaset-controller",
    "system:serviceaccount:kube-system:deployment-controller",
    "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
    "system:serviceaccount:kube-system:coredns",
    "system:serviceaccount:monitoring:prometheus",
]
NODES = [f"10.0.{i // 3 + 1}.{10 + i * 7}" for i in range(5)]
KUBECTL_UA = "kubectl/v1.28.3 (linux/amd64) kubernetes/a8a1abc"
# hour-of-day (local) traffic weights: quiet night, morning and evening peaks
DIURNAL = [0.35, 0.25, 0.2, 0.18, 0.18, 0.22, 0.35, 0.55, 0.8, 0.95, 1.0, 1.0,
           0.95, 0.9, 0.95, 1.0, 0.95, 0.9, 0.9, 1.0, 1.0, 0.9, 0.7, 0.5]  # fmt: skip


@dataclass
class SampleSpec:
    day: date
    lines: int = 60_000
    seed: int = 0
    owner: str = "default"
    timezone: str = "Asia/Shanghai"
    local: bool = True
    cos: bool = False
    gzip_local: bool = False
    malformed: int | None = None  # None → about one per 5,000 lines (min 3)
    cos_prefixes: dict[str, str] = field(default_factory=lambda: dict(COS_PREFIXES))


@dataclass
class Incident:
    id: str
    type: str
    namespace: str
    workload: str
    workload_kind: str
    start: float
    end: float
    user: str = ""
    must_mention: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "namespace": self.namespace,
            "workload": self.workload,
            "workload_kind": self.workload_kind,
            "user": self.user,
            "start": _iso_utc(self.start),
            "end": _iso_utc(self.end),
            "start_ts": self.start,
            "end_ts": self.end,
            "must_mention": self.must_mention,
            "details": self.details,
        }


@dataclass
class SampleResult:
    local_dir: Path | None
    cos_dir: Path | None
    ground_truth: dict[str, Any]
    ground_truth_path: Path


# ---------------------------------------------------------------- helpers


def _iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rand_id(rng: random.Random, n: int, alphabet: str = "bcdfghjklmnpqrstvwxz2456789") -> str:
    return "".join(rng.choices(alphabet, k=n))


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Cluster:
    """Stable names for one generated cluster: pods per deployment, nodes, images, uids."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rs_hash: dict[str, str] = {}
        self.pods: dict[str, list[str]] = {}
        self.node_of: dict[str, str] = {}
        self.version: dict[str, str] = {}
        for ws in APPS.values():
            for w in ws:
                self.rs_hash[w] = _rand_id(rng, 9)
                self.pods[w] = [f"{w}-{self.rs_hash[w]}-{_rand_id(rng, 5)}" for _ in range(rng.randint(2, 4))]
                for p in self.pods[w]:
                    self.node_of[p] = rng.choice(NODES)
                self.version[w] = f"v{rng.randint(1, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}"
        self.ns_of = {w: ns for ns, ws in APPS.items() for w in ws}

    def image(self, w: str, tag: str | None = None) -> str:
        return f"{REGISTRY}/{self.ns_of.get(w, 'infra')}/{w}:{tag or self.version[w]}"


# ---------------------------------------------------------------- line builders


def business_line(
    ts: float, tz: ZoneInfo, ns: str, w: str, pod: str, level: str, msg: str, **extra: Any
) -> str:
    rec = {
        "time": datetime.fromtimestamp(ts, tz).isoformat(timespec="milliseconds"),
        "level": level,
        "service": w,
        "namespace": ns,
        "pod": pod,
        "msg": msg,
    }
    rec.update(extra)
    return _dumps(rec)


def core_event(
    ts: float,
    ns: str,
    obj_kind: str,
    obj_name: str,
    reason: str,
    message: str,
    etype: str = "Warning",
    component: str = "kubelet",
    host: str = "",
    count: int = 1,
    first_ts: float | None = None,
    field_path: str = "",
    ev_name: str = "",
) -> str:
    obj: dict[str, Any] = {
        "kind": obj_kind,
        "name": obj_name,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, obj_name)),
    }
    if ns:
        obj["namespace"] = ns
    obj["apiVersion"] = "v1" if obj_kind in ("Pod", "Node", "PersistentVolumeClaim") else "apps/v1"
    if obj_kind == "HorizontalPodAutoscaler":
        obj["apiVersion"] = "autoscaling/v2"
    if field_path:
        obj["fieldPath"] = field_path
    ev = {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {
            "name": ev_name or f"{obj_name}.{int(ts * 1000) & 0xFFFFFFFFFFFF:x}",
            "namespace": ns or "default",
            "creationTimestamp": _iso_utc(first_ts or ts),
        },
        "involvedObject": obj,
        "reason": reason,
        "message": message,
        "source": {"component": component, **({"host": host} if host else {})},
        "firstTimestamp": _iso_utc(first_ts or ts),
        "lastTimestamp": _iso_utc(ts),
        "count": count,
        "type": etype,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": host,
    }
    return _dumps(ev)


def new_event(
    ts: float, ns: str, obj_kind: str, obj_name: str, reason: str, note: str, etype: str, controller: str
) -> str:
    """An events.k8s.io/v1 Event (what kube-scheduler emits)."""
    ev = {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": {"name": f"{obj_name}.{int(ts * 1000) & 0xFFFFFFFFFFFF:x}", "namespace": ns},
        "eventTime": _micro_utc(ts),
        "reportingController": controller,
        "reportingInstance": f"{controller}-master-1",
        "action": "Scheduling" if controller == "default-scheduler" else "Update",
        "reason": reason,
        "regarding": {"kind": obj_kind, "namespace": ns, "name": obj_name, "apiVersion": "v1"},
        "note": note,
        "type": etype,
    }
    return _dumps(ev)


def audit_line(
    ts: float,
    user: str,
    verb: str,
    resource: str,
    ns: str = "",
    name: str = "",
    api_group: str = "",
    subresource: str = "",
    code: int = 200,
    request_object: dict[str, Any] | None = None,
    response_object: dict[str, Any] | None = None,
    user_agent: str = KUBECTL_UA,
    source_ip: str = "10.0.0.8",
    audit_id: str = "",
    groups: list[str] | None = None,
) -> str:
    group_path = f"/apis/{api_group}/v1" if api_group else "/api/v1"
    uri = group_path + (f"/namespaces/{ns}" if ns else "") + f"/{resource}" + (f"/{name}" if name else "")
    if subresource:
        uri += f"/{subresource}"
    obj_ref: dict[str, Any] = {"resource": resource, "apiVersion": "v1"}
    if ns:
        obj_ref["namespace"] = ns
    if name:
        obj_ref["name"] = name
    if api_group:
        obj_ref["apiGroup"] = api_group
    if subresource:
        obj_ref["subresource"] = subresource
    level = "RequestResponse" if request_object is not None else "Metadata"
    ev: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": audit_id or str(uuid.uuid4()),
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": verb,
        "user": {"username": user, "groups": groups or ["system:authenticated"]},
        "sourceIPs": [source_ip],
        "userAgent": user_agent,
        "objectRef": obj_ref,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": _micro_utc(ts),
        "stageTimestamp": _micro_utc(ts + 0.004),
        "annotations": {
            "authorization.k8s.io/decision": "allow" if code != 403 else "forbid",
            "authorization.k8s.io/reason": ""
            if code != 403
            else f'RBAC: user "{user}" cannot {verb} resource',
        },
    }
    if code >= 400:
        ev["responseStatus"].update(status="Failure", reason="Forbidden" if code == 403 else "NotFound")
    if request_object is not None:
        ev["requestObject"] = request_object
    if response_object is not None:
        ev["responseObject"] = response_object
    return _dumps(ev)


def _image_patch(container: str, image: str) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}


# ---------------------------------------------------------------- the generator


Line = tuple[float, str, tuple[str, str, str, str]]  # (ts, json line, (host, namespace, pod, container))


class DayGenerator:
    def __init__(self, spec: SampleSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.tz = ZoneInfo(spec.timezone)
        self.day_start = datetime(spec.day.year, spec.day.month, spec.day.day, tzinfo=self.tz).timestamp()
        self.cluster = Cluster(self.rng)
        total = max(1000, spec.lines)
        self.hour_weights = [DIURNAL[h] / sum(DIURNAL) for h in range(24)]
        self.per_kind = {k: int(total * KIND_SHARE[k]) for k in KINDS}
        # incident event volume grows slowly with the day size (events do not follow traffic)
        self.intensity = max(1.0, (total / 50_000) ** 0.5)
        self.incidents: list[Incident] = []
        self.extra: dict[str, list[Line]] = {k: [] for k in KINDS}  # incident lines
        self.effects: dict[
            str, list[tuple[float, float, float, str, str]]
        ] = {}  # service -> (t0,t1,p,level,msg)
        self.busy: set[str] = set()  # workloads that must not get background rollouts
        self._plan()

    # ---- time helpers
    def at(self, hour: float) -> float:
        return self.day_start + hour * 3600.0

    def _slot(self, taken: list[tuple[float, float]], dur_h: float) -> float:
        """A start hour in [1, 22-dur] that does not overlap earlier incidents (best effort)."""
        for _ in range(200):
            h = self.rng.uniform(1.0, 22.0 - dur_h)
            if all(h + dur_h + 0.25 < a or h > b + 0.25 for a, b in taken):
                taken.append((h, h + dur_h))
                return h
        h = self.rng.uniform(1.0, 22.0 - dur_h)
        taken.append((h, h + dur_h))
        return h

    def _add(
        self, kind: str, ts: float, line: str, host: str = "", ns: str = "", pod: str = "", ctr: str = ""
    ) -> None:
        self.extra[kind].append((ts, line, (host, ns, pod, ctr)))

    # ---- incident planning
    def _plan(self) -> None:
        rng = self.rng
        picks = rng.sample(INCIDENT_APP_POOL, 5)
        taken: list[tuple[float, float]] = []
        humans = rng.sample(HUMANS, 4)
        self.busy = {w for _, w in picks}
        self._image_pull(*picks[0], user=humans[0], rollback_user=humans[1], taken=taken)
        self._oom(*picks[1], taken=taken)
        self._insufficient_memory(*picks[2], user=humans[1], taken=taken)
        self._unbound_pvc(user=humans[2], taken=taken)
        self._hpa(*picks[3], taken=taken)
        self._configmap(*picks[4], user=humans[3], taken=taken)
        self._rbac(taken=taken)

    def _pod_events_every(self, t0: float, t1: float, step: float) -> list[float]:
        out, t = [], t0
        while t < t1:
            out.append(t)
            t += step * self.rng.uniform(0.7, 1.3) / self.intensity
        return out

    def _business_errors(self, ns: str, w: str, t0: float, t1: float, step: float, msgs: list[str]) -> None:
        """An error stream independent of traffic (retries, consumers, health checks): visible even at night."""
        c = self.cluster
        for t in self._pod_events_every(t0, t1, step):
            pod = self.rng.choice(c.pods[w])
            line = business_line(
                t, self.tz, ns, w, pod, "ERROR", self.rng.choice(msgs), trace_id=_hex(self.rng, 16)
            )
            self._add("business", t, line, c.node_of[pod], ns, pod, w)

    def _image_pull(
        self, ns: str, w: str, user: str, rollback_user: str, taken: list[tuple[float, float]]
    ) -> None:
        c, rng = self.cluster, self.rng
        dur = rng.uniform(0.75, 1.5)
        h = self._slot(taken, dur)
        t0, t1 = self.at(h), self.at(h + dur)
        v = c.version[w]
        major, minor, patch = (int(x) for x in v[1:].split("."))
        bad_tag = f"v{major}.{minor}.{patch + 1}-{rng.choice(['bad', 'rc0-typo', 'broken'])}"
        old_image, bad_image = c.image(w), c.image(w, bad_tag)
        # the morning's good rollout by CI, so the old image is known from the audit log
        t_ci = self.at(max(0.1, h - rng.uniform(1.0, 2.0)))
        self._add("audit", t_ci, audit_line(t_ci, "ci-bot", "patch", "deployments", ns, w, "apps",
                  request_object=_image_patch(w, old_image), user_agent="argocd/v2.8.4", source_ip="10.0.0.30"))  # fmt: skip
        self._add("audit", t0, audit_line(t0, user, "patch", "deployments", ns, w, "apps",
                  request_object=_image_patch(w, bad_image), source_ip="10.0.0.21"))  # fmt: skip
        self._add("audit", t1, audit_line(t1, rollback_user, "patch", "deployments", ns, w, "apps",
                  request_object=_image_patch(w, old_image), source_ip="10.0.0.22"))  # fmt: skip
        new_hash = _rand_id(rng, 9)
        rs = f"{w}-{new_hash}"
        self._add("event", t0 + 1, core_event(t0 + 1, ns, "Deployment", w, "ScalingReplicaSet",
                  f"Scaled up replica set {rs} to 1", "Normal", "deployment-controller"))  # fmt: skip
        self._add("event", t0 + 1, core_event(t0 + 1, ns, "ReplicaSet", rs, "SuccessfulCreate",
                  f"Created pod: {rs}-{_rand_id(rng, 5)}", "Normal", "replicaset-controller"))  # fmt: skip
        pods = [f"{rs}-{_rand_id(rng, 5)}" for _ in range(2)]
        for pod in pods:
            host = rng.choice(NODES)
            fp = f"spec.containers{{{w}}}"
            for n, t in enumerate(self._pod_events_every(t0 + 3, t1, 40.0), start=1):
                if n % 6 == 1:
                    self._add("event", t, core_event(t, ns, "Pod", pod, "Pulling", f'Pulling image "{bad_image}"',
                              "Normal", host=host, count=n, field_path=fp), host, ns, pod, w)  # fmt: skip
                    msg = (f'Failed to pull image "{bad_image}": rpc error: code = NotFound desc = failed to pull and '
                           f'unpack image "{bad_image}": failed to resolve reference "{bad_image}": '
                           f"{bad_image}: not found")  # fmt: skip
                    self._add("event", t + 1, core_event(t + 1, ns, "Pod", pod, "Failed", msg, host=host, count=n,
                              field_path=fp), host, ns, pod, w)  # fmt: skip
                    self._add("event", t + 1, core_event(t + 1, ns, "Pod", pod, "Failed", "Error: ErrImagePull",
                              host=host, count=n, field_path=fp), host, ns, pod, w)  # fmt: skip
                else:
                    self._add("event", t, core_event(t, ns, "Pod", pod, "BackOff", f'Back-off pulling image "{bad_image}"',
                              host=host, count=n, first_ts=t0 + 3, field_path=fp), host, ns, pod, w)  # fmt: skip
                    self._add("event", t, core_event(t, ns, "Pod", pod, "Failed", "Error: ImagePullBackOff",
                              host=host, count=n, first_ts=t0 + 3, field_path=fp), host, ns, pod, w)  # fmt: skip
        # one old pod was replaced: the rest are overloaded, and callers see 503s
        self.effects.setdefault(w, []).append((t0 + 60, t1, 0.3, "ERROR", "request queue full, rejecting request: too many in-flight requests (limit 200)"))  # fmt: skip
        self.effects.setdefault("web-frontend", []).append((t0 + 60, t1, 0.12, "ERROR", f"调用 {w} 失败: 503 Service Unavailable, upstream connect error"))  # fmt: skip
        self._business_errors(ns, w, t0 + 60, t1, 60.0, ["request queue full, rejecting request: too many in-flight requests (limit 200)"])  # fmt: skip
        self.incidents.append(Incident("image-pull", "image_pull_failure", ns, w, "Deployment", t0, t1, user,
                                       must_mention=[w, user, bad_tag],
                                       details={"bad_image": bad_image, "bad_tag": bad_tag, "old_image": old_image,
                                                "rollback_user": rollback_user, "caller": "web-frontend"}))  # fmt: skip

    def _oom(self, ns: str, w: str, taken: list[tuple[float, float]]) -> None:
        c, rng = self.cluster, self.rng
        dur = rng.uniform(1.0, 2.0)
        h = self._slot(taken, dur)
        t0, t1 = self.at(h), self.at(h + dur)
        pod = c.pods[w][0]
        host = c.node_of[pod]
        fp = f"spec.containers{{{w}}}"
        for n, t in enumerate(self._pod_events_every(t0, t1, 150.0), start=1):
            pid = rng.randint(1000, 60000)
            msg = (f"Memory cgroup out of memory: Killed process {pid} (java) total-vm:{rng.randint(4, 6) * 1048576}kB, "
                   f"anon-rss:{rng.randint(2000000, 2100000)}kB, file-rss:0kB, shmem-rss:0kB, UID:0 "
                   f"pgtables:{rng.randint(4000, 4800)}kB oom_score_adj:985")  # fmt: skip
            self._add("event", t, core_event(t, "", "Node", host, "OOMKilling", msg, component="kernel-monitor",
                      host=host, count=n, ev_name=f"{host}.oom{n}"), host)  # fmt: skip
            self._add("event", t + 2, core_event(t + 2, ns, "Pod", pod, "Pulled",
                      f'Container image "{c.image(w)}" already present on machine', "Normal", host=host, count=n,
                      field_path=fp), host, ns, pod, w)  # fmt: skip
            self._add("event", t + 20, core_event(t + 20, ns, "Pod", pod, "BackOff",
                      f"Back-off restarting failed container {w} in pod {pod}_{ns}({uuid.uuid5(uuid.NAMESPACE_DNS, pod)})",
                      host=host, count=n, first_ts=t0, field_path=fp), host, ns, pod, w)  # fmt: skip
        self.effects.setdefault(w, []).append(
            (t0, t1, 0.08, "ERROR", "java.lang.OutOfMemoryError: Java heap space")
        )
        self.effects.setdefault(w, []).append((t0, t1, 0.03, "ERROR", "Exception in thread \"kafka-consumer-1\" java.lang.OutOfMemoryError: GC overhead limit exceeded"))  # fmt: skip
        self.incidents.append(Incident("oom", "oom_kill", ns, w, "Deployment", t0, t1, must_mention=[w],
                                       details={"node": host, "pod": pod, "process": "java"}))  # fmt: skip

    def _insufficient_memory(self, ns: str, w: str, user: str, taken: list[tuple[float, float]]) -> None:
        c, rng = self.cluster, self.rng
        dur = rng.uniform(1.0, 2.5)
        h = self._slot(taken, dur)
        t0, t1 = self.at(h), self.at(h + dur)
        replicas = rng.randint(8, 12)
        self._add("audit", t0, audit_line(t0, user, "patch", "deployments", ns, w, "apps", subresource="scale",
                  request_object={"spec": {"replicas": replicas}}, source_ip="10.0.0.23"))  # fmt: skip
        pods = [f"{w}-{c.rs_hash[w]}-{_rand_id(rng, 5)}" for _ in range(replicas - len(c.pods[w]))]
        note = ("0/5 nodes are available: 5 Insufficient memory. preemption: 0/5 nodes are available: "
                "5 No preemption victims found for incoming pod.")  # fmt: skip
        for pod in pods:
            for t in self._pod_events_every(t0 + 2, t1, 300.0):
                self._add("event", t, new_event(t, ns, "Pod", pod, "FailedScheduling", note, "Warning", "default-scheduler"),
                          "", ns, pod, w)  # fmt: skip
        t = t0 + 30
        self._add("event", t, core_event(t, ns, "Pod", pods[0], "NotTriggerScaleUp",
                  "pod didn't trigger scale-up: 1 max node group size reached", "Normal", "cluster-autoscaler"))  # fmt: skip
        self.incidents.append(Incident("insufficient-memory", "insufficient_memory", ns, w, "Deployment", t0, t1, user,
                                       must_mention=[w], details={"replicas": replicas, "pending_pods": len(pods)}))  # fmt: skip

    def _unbound_pvc(self, user: str, taken: list[tuple[float, float]]) -> None:
        rng = self.rng
        sts, sc = rng.choice(STATEFUL_POOL), rng.choice(STORAGE_CLASSES)
        ns = "infra"
        dur = rng.uniform(1.5, 3.0)
        h = self._slot(taken, dur)
        t0, t1 = self.at(h), self.at(h + dur)
        spec = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": sts, "namespace": ns},
                "spec": {"replicas": 3, "volumeClaimTemplates": [{"metadata": {"name": "data"},
                         "spec": {"storageClassName": sc, "accessModes": ["ReadWriteOnce"],
                                  "resources": {"requests": {"storage": "100Gi"}}}}]}}  # fmt: skip
        self._add("audit", t0, audit_line(t0, user, "create", "statefulsets", ns, "", "apps", code=201,
                  request_object=spec, source_ip="10.0.0.24"))  # fmt: skip
        pvc, pod = f"data-{sts}-0", f"{sts}-0"
        for t in self._pod_events_every(t0 + 2, t1, 120.0):
            self._add("event", t, core_event(t, ns, "PersistentVolumeClaim", pvc, "ProvisioningFailed",
                      f'storageclass.storage.k8s.io "{sc}" not found', component="persistentvolume-controller",
                      first_ts=t0 + 2, ev_name=f"{pvc}.prov"))  # fmt: skip
            note = ("0/5 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/5 nodes "
                    "are available: 5 Preemption is not helpful for scheduling.")  # fmt: skip
            self._add("event", t + 1, new_event(t + 1, ns, "Pod", pod, "FailedScheduling", note, "Warning", "default-scheduler"))  # fmt: skip
        for t in self._pod_events_every(t0 + 600, t1, 900.0):
            msg = (f"Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data "
                   f"kube-api-access-{_rand_id(rng, 5)}]: timed out waiting for the condition")  # fmt: skip
            self._add(
                "event", t, core_event(t, ns, "Pod", pod, "FailedMount", msg, host=NODES[0], field_path="")
            )
        self.incidents.append(Incident("unbound-pvc", "unbound_pvc", ns, sts, "StatefulSet", t0, t1, user,
                                       must_mention=[sts, sc], details={"storage_class": sc, "pvc": pvc}))  # fmt: skip

    def _hpa(self, ns: str, w: str, taken: list[tuple[float, float]]) -> None:
        rng = self.rng
        dur = rng.uniform(2.0, 4.0)
        h = self._slot(taken, dur)
        t0, t1 = self.at(h), self.at(h + dur)
        err = ("unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server "
               "is currently unable to handle the request (get pods.metrics.k8s.io)")  # fmt: skip
        for n, t in enumerate(self._pod_events_every(t0, t1, 90.0), start=1):
            self._add("event", t, core_event(t, ns, "HorizontalPodAutoscaler", w, "FailedGetResourceMetric",
                      f"failed to get cpu utilization: {err}", component="horizontal-pod-autoscaler", count=n,
                      first_ts=t0, ev_name=f"{w}.hpa1"))  # fmt: skip
            self._add("event", t, core_event(t, ns, "HorizontalPodAutoscaler", w, "FailedComputeMetricsReplicas",
                      f"invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: "
                      f"failed to get cpu utilization: {err}", component="horizontal-pod-autoscaler", count=n,
                      first_ts=t0, ev_name=f"{w}.hpa2"))  # fmt: skip
        ms_pod = f"metrics-server-{_rand_id(rng, 9)}-{_rand_id(rng, 5)}"
        for t in self._pod_events_every(t0, t1, 600.0):
            self._add("event", t, core_event(t, "kube-system", "Pod", ms_pod, "Unhealthy",
                      "Readiness probe failed: HTTP probe failed with statuscode: 500", host=NODES[1],
                      field_path="spec.containers{metrics-server}"))  # fmt: skip
        self.incidents.append(Incident("hpa-metrics", "hpa_metrics", ns, w, "HorizontalPodAutoscaler", t0, t1,
                                       must_mention=[w], details={"metrics_server_pod": ms_pod}))  # fmt: skip

    def _configmap(self, ns: str, w: str, user: str, taken: list[tuple[float, float]]) -> None:
        rng = self.rng
        dur = rng.uniform(0.75, 1.5)
        h = self._slot(taken, dur)
        t0, t1 = self.at(h), self.at(h + dur)
        cm = f"{w}-config"
        req: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm, "namespace": ns},
               "data": {"db.pool.size": "abc", "db.host": "mysql-proxy.infra.svc", "cache.ttl": "300"}}  # fmt: skip
        self._add(
            "audit",
            t0,
            audit_line(t0, user, "update", "configmaps", ns, cm, request_object=req, source_ip="10.0.0.25"),
        )
        self._add("audit", t1, audit_line(t1, user, "update", "configmaps", ns, cm,
                  request_object={**req, "data": {**req["data"], "db.pool.size": "50"}}, source_ip="10.0.0.25"))  # fmt: skip
        msgs = [f'加载配置失败: invalid value "abc" for key db.pool.size, configmap {cm}',
                "failed to connect to mysql mysql-proxy.infra.svc:3306: Error 1040: Too many connections"]  # fmt: skip
        self.effects.setdefault(w, []).append((t0 + 90, t1, 0.25, "ERROR", msgs[0]))
        self.effects.setdefault(w, []).append((t0 + 90, t1, 0.15, "ERROR", msgs[1]))
        self._business_errors(ns, w, t0 + 90, t1, 60.0, msgs)
        self.incidents.append(Incident("configmap-change", "configmap_change", ns, w, "Deployment", t0, t1, user,
                                       must_mention=[w, user], details={"configmap": cm}))  # fmt: skip

    def _rbac(self, taken: list[tuple[float, float]]) -> None:
        rng = self.rng
        user = rng.choice(SUSPICIOUS_USERS)
        binding = (
            rng.choice(["debug-admin", "tmp-access", "ops-temp", "break-glass"]) + "-" + _rand_id(rng, 4)
        )
        h = self._slot(taken, 0.3)
        t0 = self.at(h)
        ip = f"203.0.113.{rng.randint(2, 250)}"
        self._add(
            "audit",
            t0 - 60,
            audit_line(t0 - 60, user, "list", "secrets", "kube-system", code=403, source_ip=ip),
        )
        req = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": binding},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]}  # fmt: skip
        self._add("audit", t0, audit_line(t0, user, "create", "clusterrolebindings", "", "", "rbac.authorization.k8s.io",
                  code=201, request_object=req, source_ip=ip))  # fmt: skip
        secret_ns = rng.choice(["payment", "user"])
        secret = f"{secret_ns}-db-credentials"
        self._add(
            "audit", t0 + 45, audit_line(t0 + 45, user, "get", "secrets", secret_ns, secret, source_ip=ip)
        )
        self._add("audit", t0 + 50, audit_line(t0 + 50, user, "list", "secrets", "kube-system", source_ip=ip))
        self.incidents.append(Incident("rbac-escalation", "rbac_escalation", "", binding, "ClusterRoleBinding", t0 - 60,
                                       t0 + 50, user, must_mention=[user, "cluster-admin"],
                                       details={"binding": binding, "role": "cluster-admin", "secret": f"{secret_ns}/{secret}",
                                                "source_ip": ip}))  # fmt: skip

    # ---- background traffic
    def _business_hour(self, h: int, n: int) -> list[Line]:
        rng, c, tz = self.rng, self.cluster, self.tz
        services = [(ns, w) for ns, ws in APPS.items() for w in ws]
        weights = [6 if w == "web-frontend" else 3 if w.endswith("-api") else 1.5 for _, w in services]
        base = self.at(h)
        out: list[Line] = []
        rand = rng.random
        for (ns, w), ts in zip(
            rng.choices(services, weights, k=n), sorted(rand() for _ in range(n)), strict=True
        ):
            ts = base + ts * 3600.0
            pod = rng.choice(c.pods[w])
            level, msg, extra = "INFO", "", {}
            for t0, t1, p, lvl, m in self.effects.get(w, ()):
                if t0 <= ts < t1 and rand() < p:
                    level, msg = lvl, m
                    extra = {"trace_id": _hex(rng, 16)}
                    break
            if not msg:
                level, msg, extra = self._business_msg(w, rng)
            out.append(
                (ts, business_line(ts, tz, ns, w, pod, level, msg, **extra), (c.node_of[pod], ns, pod, w))
            )
        return out

    def _business_msg(self, w: str, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        r = rng.random()
        tid = _hex(rng, 16)
        ms = int(rng.lognormvariate(3.3, 0.7))
        uid = rng.randint(100000, 999999)
        if r < 0.0015:
            return (
                "ERROR",
                f"redis timeout after {rng.randint(500, 3000)}ms on GET session:{_hex(rng, 8)}",
                {"trace_id": tid},
            )
        if r < 0.0025:
            return (
                "ERROR",
                f"数据库查询超时: SELECT * FROM orders WHERE user_id = ? 耗时 {rng.randint(3000, 9000)}ms",
                {"trace_id": tid},
            )
        if r < 0.012:
            return (
                "WARN",
                f"slow query took {rng.randint(800, 3000)}ms: SELECT id, status FROM t_order WHERE uid=?",
                {"trace_id": tid},
            )
        if r < 0.02:
            return (
                "WARN",
                f"cache miss for key product:{rng.randint(1, 99999)}, loading from db",
                {"trace_id": tid},
            )
        if w in ("auth-service", "user-api") and r < 0.2:
            if r < 0.03:
                return "WARN", f"login failed for user {uid}: invalid password", {"user_id": str(uid)}
            return (
                "INFO",
                f"用户 {uid} 登录成功, ip=10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                {"user_id": str(uid)},
            )
        if w in ("payment-gateway", "refund-api", "billing-worker") and r < 0.3:
            order = f"P{rng.randint(10**11, 10**12 - 1)}"
            if r < 0.026:
                return (
                    "WARN",
                    f"payment {order} declined by channel alipay: insufficient balance",
                    {"trace_id": tid},
                )
            amt = rng.randint(100, 99999) / 100
            return (
                "INFO",
                f"支付订单 {order} 成功, 金额 {amt} 元, 渠道 {rng.choice(['wechat', 'alipay', 'unionpay'])}",
                {"trace_id": tid, "user_id": str(uid)},
            )
        if r < 0.06:
            return "DEBUG", f"cache hit for key product:{rng.randint(1, 99999)}", {}
        path = rng.choice(
            ["/api/v1/orders/%d", "/api/v1/cart/%d", "/api/v1/products/%d", "/api/v1/users/%d"]
        ) % rng.randint(1, 99999)
        method = rng.choice(["GET", "GET", "GET", "POST"])
        return "INFO", f"{method} {path} 200 {ms}ms", {"trace_id": tid, "latency_ms": ms, "status": 200}  # fmt: skip

    def _event_hour(self, h: int, n: int) -> list[Line]:
        rng, c = self.rng, self.cluster
        base = self.at(h)
        out: list[Line] = []
        apps = [w for ws in APPS.values() for w in ws]
        # a couple of routine CI rollouts per day, never on incident workloads
        while len(out) < n:
            ts = base + rng.random() * 3600.0
            w = rng.choice(apps)
            ns = c.ns_of[w]
            pod = rng.choice(c.pods[w])
            host = c.node_of[pod]
            fp = f"spec.containers{{{w}}}"
            r = rng.random()
            if r < 0.004:  # scattered probe failures: noise, not an incident
                line = core_event(ts, ns, "Pod", pod, "Unhealthy",
                                  f'Readiness probe failed: Get "http://10.1.{rng.randint(0, 9)}.{rng.randint(2, 250)}:8080/healthz": '
                                  "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                                  host=host, field_path=fp)  # fmt: skip
            elif r < 0.25:
                line = core_event(ts, ns, "Pod", pod, "Pulled", f'Container image "{c.image(w)}" already present on machine',
                                  "Normal", host=host, field_path=fp)  # fmt: skip
            elif r < 0.45:
                line = core_event(
                    ts,
                    ns,
                    "Pod",
                    pod,
                    "Created",
                    f"Created container {w}",
                    "Normal",
                    host=host,
                    field_path=fp,
                )
            elif r < 0.65:
                line = core_event(
                    ts,
                    ns,
                    "Pod",
                    pod,
                    "Started",
                    f"Started container {w}",
                    "Normal",
                    host=host,
                    field_path=fp,
                )
            elif r < 0.75:
                line = new_event(ts, ns, "Pod", pod, "Scheduled", f"Successfully assigned {ns}/{pod} to {host}", "Normal",
                                 "default-scheduler")  # fmt: skip
            elif r < 0.85:
                line = core_event(
                    ts,
                    ns,
                    "Pod",
                    pod,
                    "Killing",
                    f"Stopping container {w}",
                    "Normal",
                    host=host,
                    field_path=fp,
                )
            elif r < 0.93:
                line = core_event(ts, ns, "HorizontalPodAutoscaler", w, "SuccessfulRescale",
                                  f"New size: {rng.randint(2, 6)}; reason: cpu resource utilization (percentage of request) above target",
                                  "Normal", "horizontal-pod-autoscaler")  # fmt: skip
            else:
                line = core_event(ts, "", "Node", host, "NodeHasSufficientMemory",
                                  f"Node {host} status is now: NodeHasSufficientMemory", "Normal", host=host)  # fmt: skip
            out.append((ts, line, (host, ns, pod, w)))
        return out

    def _audit_hour(self, h: int, n: int) -> list[Line]:
        rng, c = self.rng, self.cluster
        base = self.at(h)
        out: list[Line] = []
        apps = [w for ws in APPS.values() for w in ws]
        for _ in range(n):
            ts = base + rng.random() * 3600.0
            w = rng.choice(apps)
            ns = c.ns_of[w]
            r = rng.random()
            if r < 0.35:
                line = audit_line(ts, "system:kube-controller-manager", "update", "leases", "kube-system",
                                  "kube-controller-manager", "coordination.k8s.io", user_agent="kube-controller-manager/v1.28.3",
                                  source_ip="10.0.0.2", groups=["system:authenticated"])  # fmt: skip
            elif r < 0.55:
                node = rng.choice(NODES)
                line = audit_line(ts, f"system:node:{node}", "get", "pods", ns, rng.choice(c.pods[w]),
                                  user_agent="kubelet/v1.28.3", source_ip=node, groups=["system:nodes"])  # fmt: skip
            elif r < 0.8:
                line = audit_line(ts, rng.choice(SYSTEM_USERS), "watch", rng.choice(["pods", "endpoints", "configmaps"]), ns,
                                  user_agent="kube-controller-manager/v1.28.3", source_ip="10.0.0.2")  # fmt: skip
            elif r < 0.97:
                user = rng.choice(HUMANS)
                res = rng.choice(["pods", "deployments", "services", "events"])
                line = audit_line(ts, user, rng.choice(["get", "list"]), res, ns, "", "apps" if res == "deployments" else "",
                                  source_ip=f"10.0.0.{20 + HUMANS.index(user)}")  # fmt: skip
            elif r < 0.995:
                line = audit_line(ts, "system:serviceaccount:kube-system:replicaset-controller", "delete", "pods", ns,
                                  rng.choice(c.pods[w]), user_agent="kube-controller-manager/v1.28.3", source_ip="10.0.0.2")  # fmt: skip
            elif w not in self.busy:  # routine CI rollout with a good image
                tag = f"v{rng.randint(1, 3)}.{rng.randint(0, 9)}.{rng.randint(10, 40)}"
                line = audit_line(ts, "ci-bot", "patch", "deployments", ns, w, "apps",
                                  request_object=_image_patch(w, c.image(w, tag)), user_agent="argocd/v2.8.4",
                                  source_ip="10.0.0.30")  # fmt: skip
            else:
                line = audit_line(ts, rng.choice(HUMANS), "get", "configmaps", ns, f"{w}-config")
            out.append((ts, line, ("", ns, "", "kube-apiserver")))
        return out

    def _malformed(self, rng: random.Random, line: str) -> str:
        r = rng.random()
        if r < 0.4:
            return line[: max(5, len(line) // 2)]  # truncated write
        if r < 0.7:
            return "\x00\x07garbage \ufffd\ufffd not json at all"
        return "{" + '"level": "INFO", "msg": "unterminated'

    # ---- output
    def generate(self, root: Path) -> SampleResult:
        spec, rng = self.spec, self.rng
        day = spec.day.isoformat()
        day_dir = simple_dir(root, spec.owner, spec.day, "business").parent
        local_dir = day_dir if spec.local else None
        cos_dir = cos_mirror_dir(root, spec.owner) if spec.cos else None
        malformed_total = spec.malformed if spec.malformed is not None else max(3, spec.lines // 5000)
        bad_at: dict[str, list[int]] = {k: [0] * 24 for k in KINDS}  # malformed lines per kind and hour
        for _ in range(malformed_total):
            bad_at[rng.choice(("business", "business", "event", "audit"))][rng.randrange(24)] += 1
        for k in KINDS:
            self.extra[k].sort(key=itemgetter(0))
        counts = {k: 0 for k in KINDS}
        malformed_written = 0
        partitions = {k: rng.randrange(0, 4) for k in KINDS}
        offsets = {k: rng.randrange(10**6, 10**8) for k in KINDS}
        builders: dict[str, Callable[[int, int], list[Line]]] = {
            "business": self._business_hour,
            "event": self._event_hour,
            "audit": self._audit_hour,
        }
        ei = {k: 0 for k in KINDS}
        for h in range(24):
            for kind in KINDS:
                extra = self.extra[kind]
                hour_end = self.at(h + 1) if h < 23 else float("inf")
                j = ei[kind]
                while j < len(extra) and extra[j][0] < hour_end:
                    j += 1
                incident_lines = extra[ei[kind] : j]
                ei[kind] = j
                n_bg = max(0, round(self.per_kind[kind] * self.hour_weights[h]) - len(incident_lines))
                lines = builders[kind](h, n_bg) + incident_lines
                lines.sort(key=itemgetter(0))
                for _ in range(bad_at[kind][h]):
                    pos = rng.randrange(len(lines)) if lines else 0
                    ts, text, meta = lines[pos] if lines else (self.at(h), "{}", ("", "", "", ""))
                    lines.insert(pos, (ts, self._malformed(rng, text), meta))
                    malformed_written += 1
                counts[kind] += len(lines)
                if local_dir is not None:
                    self._write_local(local_dir, kind, h, lines)
                if cos_dir is not None:
                    offsets[kind] = self._write_cos(cos_dir, kind, h, lines, partitions[kind], offsets[kind])
        gt = {
            "version": 1,
            "owner": spec.owner,
            "day": day,
            "seed": spec.seed,
            "timezone": spec.timezone,
            "generated_lines": sum(counts.values()),
            "lines": counts,
            "malformed_lines": malformed_written,
            "layouts": {
                "local": str(local_dir) if local_dir else None,
                "cos": {k: spec.cos_prefixes[k] for k in KINDS} if cos_dir else None,
            },
            "incidents": [i.to_dict() for i in self.incidents],
        }
        gt_path = day_dir / GROUND_TRUTH
        gt_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = gt_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(gt, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(gt_path)
        return SampleResult(local_dir, cos_dir, gt, gt_path)

    def _write_local(self, day_dir: Path, kind: str, h: int, lines: list[Line]) -> None:
        d = day_dir / kind
        d.mkdir(parents=True, exist_ok=True)
        name = f"{kind}-{self.spec.day:%Y%m%d}-{h:02d}.ndjson"
        text = "".join(line + "\n" for _, line, _ in lines)
        if self.spec.gzip_local:
            (d / (name + ".gz")).write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=3))
        else:
            (d / name).write_text(text, encoding="utf-8")

    def _write_cos(
        self, root: Path, kind: str, h: int, lines: list[Line], partition: int, offset: int
    ) -> int:
        """Two shipping windows per hour; file named by delivery time, in the delivery hour's partition folder."""
        prefix = self.spec.cos_prefixes[kind].strip("/")
        half = self.at(h + 0.5)
        chunks = [[x for x in lines if x[0] < half], [x for x in lines if x[0] >= half]]
        for i, chunk in enumerate(chunks):
            if not chunk:
                continue
            delivered = datetime.fromtimestamp(self.at(h + 0.5 * (i + 1)) - 60, self.tz)
            d = root / prefix / delivered.strftime("%Y/%m/%d/%H")
            d.mkdir(parents=True, exist_ok=True)
            path = d / f"{delivered:%Y%m%d%H%M}_{partition:03d}_{offset}.gz"
            with gzip.open(path, "wt", encoding="utf-8", compresslevel=3) as fh:
                for ts, line, (host, ns, pod, ctr) in chunk:
                    fh.write(cls_wrap(kind, ts, line, host, ns, pod, ctr))
                    fh.write("\n")
            offset += len(chunk)
        return offset


def cls_wrap(kind: str, ts: float, line: str, host: str, ns: str, pod: str, ctr: str) -> str:
    """The CLS-shipped JSON form of one log line (content fields at top level, CLS meta fields added)."""
    if not line.startswith("{") or not line.endswith("}"):
        return _dumps({"__TIMESTAMP__": int(ts * 1000), "__SOURCE__": host, "__CONTENT__": line})
    ms = int(ts * 1000)
    if kind == "business":
        meta = (f'{{"__TIMESTAMP__":{ms},"__SOURCE__":"{host}","__HOSTNAME__":"{host}",'
                f'"__FILENAME__":"/var/log/containers/{pod}_{ns}_{ctr}.log","__TAG__.namespace":"{ns}",'
                f'"__TAG__.pod_name":"{pod}","__TAG__.container_name":"{ctr}",')  # fmt: skip
    else:
        tag = _dumps(
            {"cluster_id": "cls-k8s-demo", "log_type": "k8s_event" if kind == "event" else "k8s_audit"}
        )
        meta = f'{{"__TIMESTAMP__":"{ms}","__SOURCE__":"{host or "10.0.0.2"}","__TAG__":{tag},'
    return meta + line[1:]


def generate_day(
    root: Path | str,
    day: date | str,
    lines: int = 60_000,
    seed: int = 0,
    owner: str = "default",
    timezone: str = "Asia/Shanghai",
    local: bool = True,
    cos: bool = False,
    gzip_local: bool = False,
    malformed: int | None = None,
    cos_prefixes: dict[str, str] | None = None,
) -> SampleResult:
    """Write one generated day under ``root`` and return where it went plus the ground truth."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    if lines < 1000:
        raise ValueError("a sample day needs at least 1000 lines")
    spec = SampleSpec(day, lines, seed, owner, timezone, local, cos, gzip_local, malformed)
    if cos_prefixes:
        spec.cos_prefixes.update(cos_prefixes)
    return DayGenerator(spec).generate(Path(root))


def load_ground_truth(path: Path | str) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return truth


def yesterday(timezone: str = "Asia/Shanghai") -> date:
    return (datetime.now(ZoneInfo(timezone)) - timedelta(days=1)).date()


__all__ = [
    "COS_PREFIXES",
    "GROUND_TRUTH",
    "INCIDENT_TYPES",
    "SampleResult",
    "cls_wrap",
    "generate_day",
    "load_ground_truth",
    "yesterday",
]
