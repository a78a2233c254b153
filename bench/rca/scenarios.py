"""Incident scenario library for root-cause evaluation (issue 11, point 5).

Written independently of ``agents/sample_day.py``: its own namespaces, services, people, incident kinds and
messages, taken from how Kubernetes, kubelet, node-problem-detector, client libraries and databases really word
things. Each scenario is one day for one owner with 1–3 incidents hidden in background traffic, in the record
shapes Tencent CLS ships (tiled / nested ``__TAG__`` JSON, ``__CONTENT__``-wrapped events, docker json-file
payloads, native ``audit.k8s.io/v1`` lines), plus an alarm per incident and its ground truth.

The split is fixed here and never tuned on: even seeds are the **dev** half, odd seeds the **test** half. The
failure class of a seed is ``CLASSES[(seed // 2) % len(CLASSES)]``, so every class appears in both halves.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

TZ = "Asia/Shanghai"
K8S_ALNUM = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery rand.String alphabet (pod / ReplicaSet names)

CLASSES = (
    "image_change",
    "config_change",
    "secret_change",
    "oom_limits",
    "hpa_scaling",
    "node_pressure",
    "dns_coredns",
    "cert_expiry",
    "upstream_down",
    "rbac_change",
    "probe_failure",
    "quota_exceeded",
    "pvc_storage",
    "crashloop_deploy",
    "no_logs",
)
# v2 of the library adds innocent changes next to each incident (another ConfigMap / TLS Secret in the namespace,
# a neighbour's rollout minutes before): the tracer must link by what Kubernetes records and by semantic fit.
CONFOUNDERS = True
N_SCENARIOS = 48  # 24 dev + 24 test; each class at least once per half, most twice (with extra incidents)

NAMESPACES = (
    "billing", "ledger-prod", "checkout", "media", "search-prd", "iot-gw", "crm", "risk", "warehouse",
    "notify", "payments-v2", "catalog", "fleet", "loyalty", "reporting",
)  # fmt: skip
SERVICES = (
    "invoice-svc", "ledger-writer", "cart-api", "thumbnailer", "query-router", "telemetry-ingest",
    "lead-scorer", "fraud-model", "stock-sync", "push-dispatch", "session-broker", "geo-lookup", "pdf-render",
    "quote-engine", "audit-trail", "coupon-engine", "rate-limiter", "ticket-hub", "media-transcode",
    "price-feed", "kyc-verifier", "shipment-tracker", "webhook-relay", "profile-store", "recommendation",
    "settlement-batch", "gateway-edge", "email-sender", "sms-bridge", "map-tiles",
)  # fmt: skip
PEOPLE = ("wang.lei", "chen.jing", "kate.morris", "liu.yang", "d.okafor", "zhao.min", "priya.n", "sun.hao")
BOTS = (
    "system:serviceaccount:ci:ci-bot",
    "system:serviceaccount:argocd:argocd-application-controller",
    "system:serviceaccount:tools:deploy-runner",
)
REGISTRIES = (
    "ccr.ccs.tencentyun.com/acme",
    "hkccr.ccs.tencentyun.com/shopline",
    "registry.internal:5000/platform",
)
CONFIGMAP_NAMES = (
    "runtime-settings",
    "feature-flags",
    "shared-env",
    "app-tuning",
    "routing-table",
    "limits-conf",
)
SECRET_NAMES = ("db-credentials", "partner-api-key", "smtp-auth", "mq-password", "object-store-keys")
ROLEBINDINGS = ("pod-reader-binding", "config-watcher", "lease-editor", "leader-election-rb")
QUOTAS = ("compute-quota", "team-quota", "ns-resources")
STORAGE_CLASSES = ("ssd-premium", "cbs-hssd", "fast-nvme", "cloud-ssd-v2")
UPSTREAMS = (("session-redis", 6379, "redis"), ("orders-mysql", 3306, "mysql"), ("cache-memc", 11211, "memcached"),
             ("search-es", 9200, "elasticsearch"), ("events-pg", 5432, "postgres"))  # fmt: skip
PARTNER_HOSTS = ("api.paylink-partner.com", "sso.corp-idp.net", "open.logistics-hub.cn", "gw.sms-vendor.io")

# ---------------------------------------------------------------- ground truth


@dataclass(frozen=True)
class Truth:
    cls: str
    namespace: str
    workload: str  # the alarmed workload
    cause_object: (
        str  # "configmaps/feature-flags", "Node/10.0.3.17", "kube-system/coredns", "host/api.x.com" …
    )
    # the spoken summary names the cause when every term of one alternative appears in it
    cause_terms: tuple[tuple[str, ...], ...]
    undo: str  # "rollback_image" | "restore_config" | "rollback_revision" | "manual" | "no_logs"
    undo_target: str  # "deployments/<w>" | "configmaps/<name>" | the object a manual fix is about


@dataclass(frozen=True)
class Alarm:
    at: float
    namespace: str
    workload: str
    pod: str
    policy: str
    title: str


@dataclass
class Incident:
    truth: Truth
    alarm: Alarm


@dataclass
class Scenario:
    seed: int
    split: str  # "dev" | "test"
    cls: str  # the primary class
    day: str
    owner: str
    noise: str  # low | medium | high
    incidents: list[Incident]
    lines: dict[str, list[str]] = field(default_factory=dict)  # kind → lines (empty dict: no logs at all)
    shapes: dict[str, str] = field(default_factory=dict)

    @property
    def has_logs(self) -> bool:
        return any(self.lines.values())


def split_of(seed: int) -> str:
    return "dev" if seed % 2 == 0 else "test"


def class_of(seed: int) -> str:
    return CLASSES[(seed // 2) % len(CLASSES)]


# ---------------------------------------------------------------- record builders


def _iso(ts: float, micro: bool = False) -> str:
    dt = datetime.fromtimestamp(ts, ZoneInfo("UTC"))
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if micro else dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class Gen:
    """Randomised names and the three kinds of lines, in the scenario's record shapes."""

    def __init__(self, seed: int, day: date) -> None:
        self.rng = random.Random(seed * 7919 + 17)
        self.tz = ZoneInfo(TZ)
        self.day0 = datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp()
        self.biz: list[tuple[float, str]] = []
        self.evt: list[tuple[float, str]] = []
        self.aud: list[tuple[float, str]] = []
        r = self.rng
        self.biz_shape = r.choice(("tiled", "nested", "docker", "content"))
        self.evt_shape = r.choice(("content", "raw", "eventsv1"))
        self.aud_shape = r.choice(("native", "content"))
        self.nodes = [
            f"10.{r.randint(0, 9)}.{r.randint(0, 31)}.{r.randint(2, 250)}" for _ in range(r.randint(3, 6))
        ]
        self.used_services: set[str] = set()
        self.pods: dict[str, list[tuple[str, str]]] = {}  # workload → [(pod, node)]
        self.rs: dict[str, str] = {}

    # names
    def rand(self, n: int) -> str:
        return "".join(self.rng.choice(K8S_ALNUM) for _ in range(n))

    def service(self) -> str:
        free = [s for s in SERVICES if s not in self.used_services]
        s = self.rng.choice(free)
        self.used_services.add(s)
        return s

    def pods_of(self, w: str, n: int = 0, statefulset: bool = False) -> list[tuple[str, str]]:
        if w not in self.pods:
            n = n or self.rng.randint(2, 4)
            if statefulset:
                self.pods[w] = [(f"{w}-{i}", self.rng.choice(self.nodes)) for i in range(n)]
            else:
                self.rs[w] = self.rand(self.rng.choice((8, 9, 10)))
                self.pods[w] = [
                    (f"{w}-{self.rs[w]}-{self.rand(5)}", self.rng.choice(self.nodes)) for _ in range(n)
                ]
        return self.pods[w]

    def new_pods(self, w: str, n: int = 2) -> list[tuple[str, str]]:
        """Pods of a new ReplicaSet (after a template change)."""
        rs = self.rand(self.rng.choice((9, 10)))
        self.rs[w] = rs
        return [(f"{w}-{rs}-{self.rand(5)}", self.rng.choice(self.nodes)) for _ in range(n)]

    def at(self, lo_h: float = 1.0, hi_h: float = 22.5) -> float:
        return self.day0 + self.rng.uniform(lo_h, hi_h) * 3600

    # business
    def business(self, ts: float, ns: str, pod: str, node: str, level: str, msg: str) -> None:
        r = self.rng
        container = pod.rsplit("-", 2)[0] if pod.count("-") >= 2 else pod.rsplit("-", 1)[0]
        ms = int(ts * 1000)
        tags = {"pod_name": pod, "namespace": ns, "container_name": container, "node_ip": node}
        shape = self.biz_shape
        local = datetime.fromtimestamp(ts, self.tz)
        if shape == "tiled":
            obj: dict[str, object] = {"__TIMESTAMP__": str(ms), "__SOURCE__": node, "__HOSTNAME__": node,
                                      "__FILENAME__": f"/var/log/containers/{pod}_{ns}_{container}.log"}  # fmt: skip
            obj.update({f"__TAG__.{k}": v for k, v in tags.items()})
            obj.update(
                {"level": level.lower() if r.random() < 0.5 else level, "msg": msg, "caller": "main.go:88"}
            )
        elif shape == "nested":
            obj = {"__TIMESTAMP__": ms, "__SOURCE__": node, "__TAG__": tags, "severity": level,
                   "message": msg, "ts": local.isoformat(timespec="milliseconds")}  # fmt: skip
        elif shape == "docker":
            text = f"{local.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} {level} [{container}] {msg}\n"
            obj = {"__TIMESTAMP__": str(ms), "__SOURCE__": node, "log": text,
                   "stream": "stderr" if level in ("ERROR", "FATAL", "WARN") else "stdout", "time": _iso(ts, True)}  # fmt: skip
            obj.update({f"__TAG__.{k}": v for k, v in tags.items()})
        else:
            text = f"{local.strftime('%Y-%m-%d %H:%M:%S,%f')[:-3]} {level:<5} {msg}"
            obj = {"__TIMESTAMP__": str(ms), "__CONTENT__": text, "__SOURCE__": node}
            obj.update({f"__TAG__.{k}": v for k, v in tags.items()})
        self.biz.append((ts, json.dumps(obj, ensure_ascii=False)))

    # events
    def event(self, ts: float, ns: str, kind: str, name: str, reason: str, message: str, *, warning: bool = True,
              host: str = "", component: str = "kubelet", count: int = 1) -> None:  # fmt: skip
        uid = f"{self.rand(8)}-{self.rand(4)}-{self.rand(4)}-{self.rand(4)}-{self.rand(12)}"
        typ = "Warning" if warning else "Normal"
        ev_name = f"{name}.{self.rng.getrandbits(64):x}"[:80]
        if self.evt_shape == "eventsv1":
            obj: dict[str, object] = {
                "apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": ev_name, "namespace": ns or "default", "uid": uid},
                "eventTime": _iso(ts, True), "reason": reason, "note": message, "type": typ,
                "regarding": {"kind": kind, "namespace": ns, "name": name, "apiVersion": "v1"},
                "reportingController": component, "reportingInstance": host or component,
                "deprecatedSource": {"component": component, "host": host} if host else {"component": component},
                "deprecatedCount": count, "deprecatedFirstTimestamp": _iso(ts), "deprecatedLastTimestamp": _iso(ts),
            }  # fmt: skip
        else:
            obj = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": ev_name, "namespace": ns or "default", "uid": uid,
                             "creationTimestamp": _iso(ts)},
                "involvedObject": {"kind": kind, "namespace": ns, "name": name, "apiVersion": "v1"},
                "reason": reason, "message": message, "type": typ, "count": count,
                "source": {"component": component, "host": host} if host else {"component": component},
                "firstTimestamp": _iso(ts), "lastTimestamp": _iso(ts), "eventTime": None,
            }  # fmt: skip
        if self.evt_shape == "content":
            wrapped = {"__TIMESTAMP__": str(int(ts * 1000)), "__SOURCE__": "tke-event-exporter",
                       "__TAG__.cluster_id": "cls-k8s", "__CONTENT__": json.dumps(obj, ensure_ascii=False)}  # fmt: skip
            self.evt.append((ts, json.dumps(wrapped, ensure_ascii=False)))
        else:
            self.evt.append((ts, json.dumps(obj, ensure_ascii=False)))

    # audit
    def audit(self, ts: float, user: str, verb: str, resource: str, ns: str, name: str, *, body: object = None,
              code: int = 200, sub: str = "", group: str = "", level: str = "") -> None:  # fmt: skip
        level = level or ("RequestResponse" if body is not None else "Metadata")
        uri = f"/api{'s/' + group + '/v1' if group else '/v1'}{'/namespaces/' + ns if ns else ''}/{resource}"
        uri += f"/{name}" if name and verb != "create" else ""
        uri += f"/{sub}" if sub else ""
        ev: dict[str, object] = {
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level,
            "auditID": f"{self.rand(8)}-{self.rand(4)}-{self.rand(4)}-{self.rand(4)}-{self.rand(12)}",
            "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
            "user": {"username": user, "groups": ["system:authenticated"]},
            "sourceIPs": [f"172.16.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"],
            "userAgent": self.rng.choice(("kubectl/v1.28.2 (linux/amd64) kubernetes/89a4ea3", "argocd-controller/v2.9",
                                          "Go-http-client/2.0", "helm/v3.13.1")),
            "objectRef": {"resource": resource, "namespace": ns, "name": name,
                          "apiGroup": group, "apiVersion": "v1", **({"subresource": sub} if sub else {})},
            "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": _iso(ts, True), "stageTimestamp": _iso(ts + 0.004, True),
            "annotations": {"authorization.k8s.io/decision": "allow" if code != 403 else "forbid",
                            "authorization.k8s.io/reason": ""},
        }  # fmt: skip
        if not ns:
            ev["objectRef"] = {k: v for k, v in ev["objectRef"].items() if k != "namespace"}  # type: ignore[attr-defined]
        if body is not None and level == "RequestResponse":
            ev["requestObject"] = body
        if code >= 400:
            ev["responseStatus"] = {"metadata": {}, "status": "Failure", "code": code,
                                    "reason": "Forbidden" if code == 403 else "Invalid"}  # fmt: skip
        if self.aud_shape == "content":
            wrapped = {"__TIMESTAMP__": str(int(ts * 1000)), "__SOURCE__": "kube-apiserver",
                       "__CONTENT__": json.dumps(ev, ensure_ascii=False)}  # fmt: skip
            self.aud.append((ts, json.dumps(wrapped, ensure_ascii=False)))
        else:
            self.aud.append((ts, json.dumps(ev, ensure_ascii=False)))

    def lines(self) -> dict[str, list[str]]:
        return {k: [line for _, line in sorted(v, key=lambda x: x[0])]
                for k, v in (("business", self.biz), ("event", self.evt), ("audit", self.aud))}  # fmt: skip


# ---------------------------------------------------------------- background traffic

_INFO_MSGS = (
    "handled request method=GET path=/v1/items/{n} status=200 duration_ms={d}",
    "processed batch size={n} lag_ms={d}",
    "cache refresh completed entries={n} took={d}ms",
    "POST /api/orders/{n} 201 {d}ms",
    "consumer committed offset={n} partition={d}",
    "health check ok uptime_s={n}",
    "scheduled job tick id={n} next_in={d}s",
)
_BG_ERRORS = (
    "request to /v1/profile/{n} failed: context canceled",
    "retrying publish to topic=events attempt={d}",
    "slow query detected duration_ms={n} table=items",
    "client closed connection before response id={n}",
)


def _deployment_body(w: str, image: str, *, cm: str = "", secret: str = "", sa: str = "", mem: str = "512Mi",
                     probe_path: str = "/healthz", probe_port: int = 8080, replicas: int = 3) -> dict[str, object]:  # fmt: skip
    container: dict[str, object] = {
        "name": w, "image": image,
        "resources": {"limits": {"memory": mem, "cpu": "1"}, "requests": {"memory": "256Mi", "cpu": "200m"}},
        "readinessProbe": {"httpGet": {"path": probe_path, "port": probe_port}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": probe_path, "port": probe_port}, "periodSeconds": 20},
    }  # fmt: skip
    if cm:
        container["envFrom"] = [{"configMapRef": {"name": cm}}]
    if secret:
        container["env"] = [
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}
        ]
    pod_spec: dict[str, object] = {"containers": [container]}
    if sa:
        pod_spec["serviceAccountName"] = sa
    if cm and cm.endswith("conf"):
        pod_spec["volumes"] = [{"name": "conf", "configMap": {"name": cm}}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": w},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": w}},
                     "template": {"metadata": {"labels": {"app": w}}, "spec": pod_spec}}}  # fmt: skip


def background(g: Gen, noise: str, namespaces: list[str]) -> None:
    """Healthy services, normal k8s churn, controller audit noise and innocent human changes."""
    r = g.rng
    n_lines = {"low": 1500, "medium": 4000, "high": 9000}[noise]
    err_rate = {"low": 0.002, "medium": 0.01, "high": 0.03}[noise]
    bg = []
    for _ in range(r.randint(3, 5)):
        ns = r.choice(namespaces)
        w = g.service()
        bg.append((ns, w))
        g.pods_of(w)
    for _ in range(n_lines):
        ns, w = r.choice(bg)
        pod, node = r.choice(g.pods[w])
        ts = g.at(0.0, 23.99)
        if r.random() < err_rate:
            g.business(
                ts,
                ns,
                pod,
                node,
                "ERROR",
                r.choice(_BG_ERRORS).format(n=r.randint(1, 99999), d=r.randint(1, 9)),
            )
        else:
            level = "WARN" if r.random() < 0.02 else "INFO"
            g.business(
                ts,
                ns,
                pod,
                node,
                level,
                r.choice(_INFO_MSGS).format(n=r.randint(1, 99999), d=r.randint(1, 900)),
            )
    # normal k8s churn: pulls, starts, scheduling
    for _ in range(n_lines // 40):
        ns, w = r.choice(bg)
        pod, node = r.choice(g.pods[w])
        ts = g.at(0.0, 23.9)
        reason, msg = r.choice((
            ("Scheduled", f"Successfully assigned {ns}/{pod} to {node}"),
            ("Pulled", f'Container image "{REGISTRIES[0]}/{w}:v1.{r.randint(0, 9)}.{r.randint(0, 20)}" already present on machine'),
            ("Created", f"Created container {w}"), ("Started", f"Started container {w}"),
        ))  # fmt: skip
        g.event(ts, ns, "Pod", pod, reason, msg, warning=False, host=node)
    # a few scattered probe failures (background, must not be blamed)
    for _ in range({"low": 0, "medium": 2, "high": 5}[noise]):
        ns, w = r.choice(bg)
        pod, node = r.choice(g.pods[w])
        g.event(g.at(), ns, "Pod", pod, "Unhealthy", "Readiness probe failed: Get \"http://10.244.1.9:8080/healthz\": "
                "context deadline exceeded (Client.Timeout exceeded while awaiting headers)", host=node)  # fmt: skip
    # controller audit noise
    for _ in range(n_lines // 30):
        ns, w = r.choice(bg)
        g.audit(g.at(0, 23.9), "system:kube-controller-manager", "update", "deployments", ns, w, sub="status",
                group="apps")  # fmt: skip
        g.audit(
            g.at(0, 23.9),
            f"system:node:{r.choice(g.nodes)}",
            "patch",
            "pods",
            ns,
            r.choice(g.pods[w])[0],
            sub="status",
        )
        g.audit(
            g.at(0, 23.9),
            r.choice(PEOPLE),
            r.choice(("get", "list")),
            r.choice(("pods", "deployments")),
            ns,
            "",
        )
    # innocent human changes elsewhere (near-miss distractors)
    for _ in range(r.randint(1, 3)):
        ns, w = r.choice(bg)
        who = r.choice(PEOPLE + BOTS)
        choice = r.random()
        if choice < 0.4:
            g.audit(g.at(), who, "patch", "deployments", ns, w, group="apps", sub="scale",
                    body={"spec": {"replicas": r.randint(2, 6)}})  # fmt: skip
        elif choice < 0.7:
            g.audit(
                g.at(),
                who,
                "update",
                "configmaps",
                ns,
                f"{w}-dashboards",
                body={"data": {"panel.json": "{}"}},
            )
        else:
            img = f"{r.choice(REGISTRIES)}/{w}:v2.{r.randint(0, 9)}.{r.randint(0, 30)}"
            g.audit(g.at(), who, "patch", "deployments", ns, w, group="apps", body=_deployment_body(w, img))


# ---------------------------------------------------------------- incidents


def _errors(g: Gen, ns: str, pods: list[tuple[str, str]], t0: float, t1: float, msgs: list[str], n: int,
            level: str = "ERROR") -> None:  # fmt: skip
    for _ in range(n):
        pod, node = g.rng.choice(pods)
        g.business(g.rng.uniform(t0, t1), ns, pod, node, level, g.rng.choice(msgs))


def _crash_events(g: Gen, ns: str, pods: list[tuple[str, str]], w: str, t0: float, t1: float, n: int) -> None:
    for _ in range(n):
        pod, node = g.rng.choice(pods)
        g.event(g.rng.uniform(t0, t1), ns, "Pod", pod, "BackOff",
                f"Back-off restarting failed container {w} in pod {pod}_{ns}({g.rand(8)}-{g.rand(4)})", host=node,
                count=g.rng.randint(2, 40))  # fmt: skip


ALARM_LAG_S = (90.0, 480.0)  # how long after the first symptom the alarm fires (a harness option varies it)


def _alarm(g: Gen, ns: str, w: str, pod: str, onset: float, policy: str, title: str) -> Alarm:
    lag = g.rng.uniform(*ALARM_LAG_S)
    return Alarm(at=onset + lag, namespace=ns, workload=w, pod=pod, policy=policy, title=title)


Maker = Callable[[Gen, str], Incident]


def image_change(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    pods = g.pods_of(w)
    reg = r.choice(REGISTRIES)
    old = f"v{r.randint(1, 4)}.{r.randint(0, 20)}.{r.randint(0, 9)}"
    bad = r.choice((f"v{r.randint(5, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}-rc{r.randint(1, 5)}", f"sha-{g.rand(7)}",
                    f"release-{r.randint(100, 999)}"))  # fmt: skip
    t0 = g.at(3, 21)
    g.event(t0 - r.uniform(3, 10) * 3600, ns, "Pod", pods[0][0], "Pulled",
            f'Successfully pulled image "{reg}/{w}:{old}" in 2.1s (2.1s including waiting)', warning=False,
            host=pods[0][1])  # fmt: skip
    who = r.choice(PEOPLE + BOTS)
    g.audit(
        t0, who, "patch", "deployments", ns, w, group="apps", body=_deployment_body(w, f"{reg}/{w}:{bad}")
    )
    new = g.new_pods(w, 2)
    for pod, node in new:
        for k in range(r.randint(4, 9)):
            ts = t0 + 20 + k * r.uniform(40, 120)
            g.event(ts, ns, "Pod", pod, "Failed", f'Failed to pull image "{reg}/{w}:{bad}": rpc error: code = NotFound '
                    f'desc = failed to pull and unpack image "{reg}/{w}:{bad}": {reg}/{w}:{bad}: not found', host=node)  # fmt: skip
            g.event(ts + 1, ns, "Pod", pod, "Failed", "Error: ErrImagePull", host=node)
            g.event(
                ts + 30, ns, "Pod", pod, "BackOff", f'Back-off pulling image "{reg}/{w}:{bad}"', host=node
            )
    truth = Truth(
        "image_change", ns, w, f"deployments/{w}", ((bad,), (w, "镜像")), "rollback_image", f"deployments/{w}"
    )
    return Incident(
        truth, _alarm(g, ns, w, "", t0, "workload-unavailable", f"{w} available replicas below desired")
    )


def crashloop_deploy(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    g.pods_of(w)
    reg = r.choice(REGISTRIES)
    old, new_tag = (
        f"2024.{r.randint(1, 12)}.{r.randint(1, 28)}",
        f"2024.{r.randint(1, 12)}.{r.randint(1, 28)}-hotfix",
    )
    t0 = g.at(3, 21)
    g.event(t0 - 7200, ns, "Pod", g.pods[w][0][0], "Pulled", f'Container image "{reg}/{w}:{old}" already present on machine',
            warning=False, host=g.pods[w][0][1])  # fmt: skip
    who = r.choice(PEOPLE + BOTS)
    g.audit(
        t0,
        who,
        "update",
        "deployments",
        ns,
        w,
        group="apps",
        body=_deployment_body(w, f"{reg}/{w}:{new_tag}"),
    )
    new = g.new_pods(w, 2)
    for pod, node in new:
        g.event(t0 + 15, ns, "Pod", pod, "Pulled", f'Successfully pulled image "{reg}/{w}:{new_tag}" in 1.4s',
                warning=False, host=node)  # fmt: skip
    msgs = r.choice((
        ["panic: assignment to entry in nil map", "goroutine 1 [running]: main.loadRoutes()"],
        ['Exception in thread "main" java.lang.NoSuchMethodError: com.acme.core.Client.connect(Ljava/lang/String;)V'],
        ["ImportError: cannot import name 'parse_rules' from 'engine.rules' (/app/engine/rules.py)"],
        ["TypeError: Cannot read properties of undefined (reading 'split') at bootstrap (/srv/app/index.js:42:17)"],
    ))  # fmt: skip
    _errors(g, ns, new, t0 + 30, t0 + 1800, msgs, r.randint(20, 60), "FATAL" if r.random() < 0.5 else "ERROR")
    _crash_events(g, ns, new, w, t0 + 60, t0 + 1800, r.randint(6, 14))
    truth = Truth("crashloop_deploy", ns, w, f"deployments/{w}", ((new_tag,), (w, "镜像"), (w, "发布")),
                  "rollback_image", f"deployments/{w}")  # fmt: skip
    return Incident(
        truth, _alarm(g, ns, w, new[0][0], t0, "pod-restarts", f"{w} container restarts > 5 in 10m")
    )


def config_change(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    pods = g.pods_of(w)
    cm = r.choice(CONFIGMAP_NAMES)
    t0 = g.at(4, 21)
    key = r.choice(("config.yaml", "settings.toml", "app.properties"))
    good = {key: "timeout_ms: 3000\nretries: 3\npool_size: 20\n", "LOG_LEVEL": "info"}
    broken = {key: "timeout_ms: 3000\nretries: three\n  pool_size: 20\n", "LOG_LEVEL": "info"}
    g.audit(t0 - r.uniform(2, 3.5) * 3600, r.choice(PEOPLE), "update", "configmaps", ns, cm, body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm, "namespace": ns}, "data": good})  # fmt: skip
    linked = r.random() < 0.6
    if linked:  # the pod template references the ConfigMap (seen in an earlier deploy's audit body)
        g.audit(t0 - r.uniform(1.2, 1.9) * 3600, r.choice(BOTS), "patch", "deployments", ns, w, group="apps",
                body=_deployment_body(w, f"{REGISTRIES[1]}/{w}:v3.2.{r.randint(0, 9)}", cm=cm))  # fmt: skip
    who = r.choice(PEOPLE + BOTS)
    g.audit(t0, who, r.choice(("update", "patch")), "configmaps", ns, cm, body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm, "namespace": ns}, "data": broken})  # fmt: skip
    if CONFOUNDERS and r.random() < 0.7:  # another ConfigMap in the namespace changes in between (innocent)
        decoy = r.choice([c for c in CONFIGMAP_NAMES if c != cm])
        g.audit(t0 + r.uniform(10, 50), r.choice(PEOPLE + BOTS), "update", "configmaps", ns, decoy, body={
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": decoy, "namespace": ns},
            "data": {"panel.json": "{\"refresh\": \"30s\"}", "alerts.rules": "groups: []"}})  # fmt: skip
    # pods restarted to pick it up (a rollout restart is a change to the deployment too — an innocent one)
    g.audit(t0 + 60, who, "patch", "deployments", ns, w, group="apps", body={"spec": {"template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": _iso(t0 + 60)}}}}})  # fmt: skip
    new = g.new_pods(w, len(pods))
    msgs = r.choice((
        [f"failed to load configuration from /etc/{w}/{key}: yaml: line 3: mapping values are not allowed in this context"],
        [f"config error: invalid value \"three\" for field retries in {key}: strconv.Atoi: parsing \"three\": invalid syntax"],
        [f"Error parsing configuration file {key}: expected integer for 'retries' at line 2"],
    ))  # fmt: skip
    _errors(g, ns, new, t0 + 70, t0 + 1500, msgs, r.randint(15, 50), "FATAL")
    _crash_events(g, ns, new, w, t0 + 90, t0 + 1500, r.randint(5, 12))
    truth = Truth("config_change", ns, w, f"configmaps/{cm}", ((cm,),), "restore_config", f"configmaps/{cm}")
    return Incident(truth, _alarm(g, ns, w, new[0][0], t0 + 70, "pod-restarts", f"{w} CrashLoopBackOff"))


def secret_change(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    pods = g.pods_of(w)
    sec = r.choice(SECRET_NAMES)
    t0 = g.at(3, 21)
    if r.random() < 0.5:
        g.audit(t0 - r.uniform(1, 5) * 3600, r.choice(BOTS), "patch", "deployments", ns, w, group="apps",
                body=_deployment_body(w, f"{REGISTRIES[0]}/{w}:v1.9.{r.randint(0, 9)}", secret=sec))  # fmt: skip
    who = r.choice(BOTS + PEOPLE)
    g.audit(t0, who, r.choice(("update", "patch")), "secrets", ns, sec)  # audited at Metadata level: no body
    if CONFOUNDERS and r.random() < 0.7:  # cert-manager renews a TLS secret in the same namespace just after
        g.audit(t0 + r.uniform(20, 120), "system:serviceaccount:cert-manager:cert-manager", "update", "secrets", ns,
                r.choice(("ingress-tls", f"{w}-tls", "wildcard-cert")))  # fmt: skip
    msgs = r.choice((
        [f"Access denied for user '{w.split('-')[0]}'@'10.244.{r.randint(0, 9)}.{r.randint(2, 250)}' (using password: YES)"],
        [f'FATAL: password authentication failed for user "{w.split("-")[0]}_app"'],
        ["upstream responded 401 Unauthorized: invalid api key", "authentication failed: invalid credentials"],
        ["WRONGPASS invalid username-password pair or user is disabled."],
    ))  # fmt: skip
    _errors(g, ns, pods, t0 + r.uniform(30, 300), t0 + 2400, msgs, r.randint(30, 120))
    truth = Truth("secret_change", ns, w, f"secrets/{sec}", ((sec,),), "manual", f"secrets/{sec}")
    return Incident(truth, _alarm(g, ns, w, pods[0][0], t0 + 200, "error-rate", f"{w} 5xx ratio above 5%"))


def oom_limits(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    g.pods_of(w)
    t0 = g.at(3, 21)
    changed = r.random() < 0.6
    who = r.choice(PEOPLE + BOTS)
    if changed:
        g.audit(t0, who, "patch", "deployments", ns, w, group="apps",
                body=_deployment_body(w, f"{REGISTRIES[2]}/{w}:v4.1.0", mem=r.choice(("128Mi", "96Mi", "200Mi"))))  # fmt: skip
        pods = g.new_pods(w, 3)
    else:
        pods = g.pods[w]
    proc = r.choice(("java", "node", "python3", w.replace("-", "_")))
    for k in range(r.randint(5, 12)):
        pod, node = r.choice(pods)
        ts = t0 + 120 + k * r.uniform(60, 200)
        g.event(ts, "", "Node", node, "OOMKilling", f"Memory cgroup out of memory: Killed process {r.randint(1000, 99999)} "
                f"({proc}) total-vm:{r.randint(900000, 3000000)}kB, anon-rss:{r.randint(100000, 500000)}kB, "
                "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:1200kB oom_score_adj:999", host=node,
                component="kernel-monitor")  # fmt: skip
        g.event(
            ts + 20,
            ns,
            "Pod",
            pod,
            "BackOff",
            f"Back-off restarting failed container {w} in pod {pod}_{ns}(x)",
            host=node,
        )
    if r.random() < 0.5:
        _errors(
            g,
            ns,
            pods,
            t0 + 100,
            t0 + 1500,
            ["java.lang.OutOfMemoryError: Java heap space"],
            r.randint(3, 10),
        )
    truth = Truth("oom_limits", ns, w, f"deployments/{w}", ((w, "内存"), (w, "OOM")),
                  "rollback_revision" if changed else "manual", f"deployments/{w}")  # fmt: skip
    return Incident(
        truth, _alarm(g, ns, w, pods[0][0], t0 + 120, "container-oom", f"{w} container OOMKilled")
    )


def hpa_scaling(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    pods = g.pods_of(w, 6)
    t0 = g.at(3, 21)
    who = r.choice(PEOPLE + BOTS)
    if r.random() < 0.5:
        g.audit(t0, who, "patch", "horizontalpodautoscalers", ns, w, group="autoscaling",
                body={"spec": {"maxReplicas": 1, "minReplicas": 1}})  # fmt: skip
        g.event(t0 + 40, ns, "HorizontalPodAutoscaler", w, "SuccessfulRescale",
                "New size: 1; reason: All metrics below target", warning=False, component="horizontal-pod-autoscaler")  # fmt: skip
        obj = f"horizontalpodautoscalers/{w}"
    else:
        g.audit(
            t0, who, "patch", "deployments", ns, w, group="apps", sub="scale", body={"spec": {"replicas": 1}}
        )
        obj = f"deployments/{w}"
    g.event(t0 + 5, ns, "Deployment", w, "ScalingReplicaSet", f"Scaled down replica set {w}-{g.rs[w]} to 1 from 6",
            warning=False, component="deployment-controller")  # fmt: skip
    left = pods[:1]
    msgs = ["request queue full (1024), rejecting request", "upstream connect error or disconnect/reset before headers. "
            "reset reason: overflow", "worker pool saturated, dropping request"]  # fmt: skip
    _errors(g, ns, left, t0 + 60, t0 + 2400, msgs, r.randint(40, 120))
    truth = Truth("hpa_scaling", ns, w, obj, ((w, "副本"), (w, "扩缩")), "manual", obj)
    return Incident(truth, _alarm(g, ns, w, left[0][0], t0 + 120, "latency", f"{w} p99 latency > 2s"))


def node_pressure(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    pods = g.pods_of(w)
    node = pods[0][1]
    on_node = [p for p in pods if p[1] == node]
    t0 = g.at(3, 21)
    variant = r.choice(("disk", "memory", "notready"))
    if variant == "notready":
        g.event(t0, "", "Node", node, "NodeNotReady", f"Node {node} status is now: NodeNotReady", warning=False,
                component="node-controller")  # fmt: skip
        for pod, _ in on_node:
            g.event(t0 + 5, ns, "Pod", pod, "NodeNotReady", "Node is not ready", component="node-controller")
            g.event(t0 + 300, ns, "Pod", pod, "TaintManagerEviction", f"Marking for deletion Pod {ns}/{pod}",
                    warning=False, component="taint-controller")  # fmt: skip
        msgs = [f"dial tcp {r.choice(g.nodes)}:8080: connect: no route to host", "context deadline exceeded"]
    else:
        res = "ephemeral-storage" if variant == "disk" else "memory"
        g.event(t0, "", "Node", node, "EvictionThresholdMet", f"Attempting to reclaim {res}", host=node)
        g.event(t0 + 2, "", "Node", node, "NodeHas" + ("DiskPressure" if variant == "disk" else "MemoryPressure"),
                f"Node {node} status is now: NodeHas{'DiskPressure' if variant == 'disk' else 'MemoryPressure'}",
                warning=False, host=node)  # fmt: skip
        for pod, _ in on_node:
            g.event(t0 + r.uniform(20, 200), ns, "Pod", pod, "Evicted", f"The node was low on resource: {res}. "
                    f"Threshold quantity: 10%, available: 3%. Container {w} was using 3Gi, request is 0, has larger "
                    f"consumption of {res}.", host=node)  # fmt: skip
        msgs = (["write /var/cache/app/segment.tmp: no space left on device"] if variant == "disk"
                else ["failed to allocate buffer: cannot allocate memory"])  # fmt: skip
    _errors(g, ns, on_node, t0 + 10, t0 + 900, msgs, r.randint(10, 40))
    truth = Truth("node_pressure", ns, w, f"Node/{node}", ((node,),), "manual", f"Node/{node}")
    return Incident(truth, _alarm(g, ns, w, on_node[0][0], t0 + 60, "pod-not-ready", f"{w} pods not ready"))


def dns_coredns(g: Gen, ns: str) -> Incident:
    r = g.rng
    cpods = [(f"coredns-{g.rand(10)}-{g.rand(5)}", r.choice(g.nodes)) for _ in range(2)]
    t0 = g.at(3, 21)
    for k in range(r.randint(4, 9)):
        pod, node = r.choice(cpods)
        ts = t0 + k * r.uniform(30, 120)
        if r.random() < 0.5:
            g.event(ts - 10, "", "Node", node, "OOMKilling", f"Memory cgroup out of memory: Killed process {r.randint(100, 9999)} "
                    "(coredns) total-vm:812000kB, anon-rss:170000kB, file-rss:0kB", host=node, component="kernel-monitor")  # fmt: skip
        g.event(ts, "kube-system", "Pod", pod, "BackOff", f"Back-off restarting failed container coredns in pod {pod}_kube-system(x)",
                host=node)  # fmt: skip
    victims = [g.service() for _ in range(r.randint(2, 3))]
    first = None
    for v in victims:
        vpods = g.pods_of(v)
        target = f"{r.choice(SERVICES)}.{r.choice(NAMESPACES)}.svc.cluster.local"
        msgs = [f"dial tcp: lookup {target} on 10.96.0.10:53: read udp 10.244.{r.randint(0, 9)}.{r.randint(2, 200)}:"
                f"{r.randint(30000, 60000)}->10.96.0.10:53: i/o timeout",
                f"getaddrinfo EAI_AGAIN {target}", f"java.net.UnknownHostException: {target}: Temporary failure in name resolution"]  # fmt: skip
        _errors(g, ns, vpods, t0 + 20, t0 + 1200, msgs[:2] if r.random() < 0.5 else msgs, r.randint(20, 60))
        first = first or (v, vpods[0][0])
    assert first is not None
    w, pod = first
    truth = Truth(
        "dns_coredns", ns, w, "kube-system/coredns", (("coredns",),), "manual", "deployments/coredns"
    )
    return Incident(truth, _alarm(g, ns, w, pod, t0 + 30, "error-rate", f"{w} error rate high"))


def cert_expiry(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    pods = g.pods_of(w)
    host = r.choice(PARTNER_HOSTS)
    t0 = g.at(0.2, 20)
    exp = datetime.fromtimestamp(t0 - 30, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    msgs = r.choice((
        [f'Post "https://{host}/v2/charge": x509: certificate has expired or is not yet valid: current time '
         f"{_iso(t0 + 100)} is after {exp}"],
        [f"HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded with url: /oauth/token (Caused by "
         "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
         "certificate has expired (_ssl.c:1006)')))"],
        [f"javax.net.ssl.SSLHandshakeException: PKIX path validation failed: java.security.cert.CertificateExpiredException: "
         f"NotAfter: {exp} (connecting to {host}:443)"],
    ))  # fmt: skip
    _errors(g, ns, pods, t0, t0 + 3000, msgs, r.randint(30, 90))
    truth = Truth("cert_expiry", ns, w, f"host/{host}", (("证书",),), "manual", f"host/{host}")
    return Incident(
        truth, _alarm(g, ns, w, pods[0][0], t0 + 120, "error-rate", f"{w} calls to partner failing")
    )


def upstream_down(g: Gen, ns: str) -> Incident:
    r = g.rng
    up, port, tech = r.choice(UPSTREAMS)
    up_ns = r.choice((ns, "data", "middleware"))
    upods = g.pods_of(up, 1, statefulset=True)
    w = g.service()
    pods = g.pods_of(w)
    t0 = g.at(3, 21)
    cause = r.choice(("oom", "crash", "deleted"))
    if cause == "deleted":
        g.audit(t0, r.choice(PEOPLE), "delete", "pods", up_ns, upods[0][0])
        g.event(
            t0 + 1,
            up_ns,
            "Pod",
            upods[0][0],
            "Killing",
            f"Stopping container {tech}",
            warning=False,
            host=upods[0][1],
        )
        g.event(t0 + 40, up_ns, "Pod", upods[0][0], "FailedMount", "MountVolume.SetUp failed for volume \"data\" : "
                "rpc error: code = DeadlineExceeded", host=upods[0][1])  # fmt: skip
    else:
        for k in range(r.randint(3, 8)):
            g.event(t0 + k * 90, up_ns, "Pod", upods[0][0], "BackOff", f"Back-off restarting failed container {tech} in pod "
                    f"{upods[0][0]}_{up_ns}(x)", host=upods[0][1])  # fmt: skip
            if cause == "oom":
                g.event(t0 + k * 90 - 5, "", "Node", upods[0][1], "OOMKilling", f"Memory cgroup out of memory: Killed process "
                        f"{r.randint(100, 9999)} ({tech}) total-vm:2000000kB", host=upods[0][1], component="kernel-monitor")  # fmt: skip
    fq = f"{up}.{up_ns}.svc.cluster.local"
    msgs = {
        "redis": [f"dial tcp {fq}:{port}: connect: connection refused", f"redis: connection pool timeout ({up}:{port})"],
        "mysql": [f"com.mysql.cj.jdbc.exceptions.CommunicationsException: Communications link failure to {up}:{port}",
                  f"dial tcp {fq}:{port}: connect: connection refused"],
        "memcached": [f"memcache: connect to {up}:{port} failed: connection refused"],
        "elasticsearch": [f"ConnectionError(<urllib3.connection.HTTPConnection>: Failed to establish a new connection: "
                          f"[Errno 111] Connection refused) caused by: {up}:{port}"],
        "postgres": [f'connection to server at "{fq}" (10.96.{r.randint(0, 200)}.{r.randint(2, 250)}), port {port} '
                     "failed: Connection refused"],
    }[tech]  # fmt: skip
    _errors(g, ns, pods, t0 + 15, t0 + 1500, msgs, r.randint(30, 100))
    truth = Truth("upstream_down", ns, w, f"{up_ns}/{up}", ((up,),), "manual", f"statefulsets/{up}")
    return Incident(truth, _alarm(g, ns, w, pods[0][0], t0 + 100, "error-rate", f"{w} error rate high"))


def rbac_change(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    pods = g.pods_of(w)
    rb = r.choice(ROLEBINDINGS)
    sa = f"{w}-sa"
    t0 = g.at(3, 21)
    who = r.choice(PEOPLE + BOTS)
    if r.random() < 0.5:
        g.audit(t0, who, "delete", "rolebindings", ns, rb, group="rbac.authorization.k8s.io")
        obj = f"rolebindings/{rb}"
        terms: tuple[tuple[str, ...], ...] = ((rb,),)
    else:
        role = rb.replace("binding", "role").replace("-rb", "-role")
        g.audit(t0, who, "patch", "roles", ns, role, group="rbac.authorization.k8s.io",
                body={"rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["get"]}]})  # fmt: skip
        obj = f"roles/{role}"
        terms = ((role,),)
    res = r.choice(("configmaps", "pods", "leases", "endpoints"))
    for _ in range(r.randint(10, 30)):
        ts = r.uniform(t0 + 20, t0 + 1800)
        g.audit(
            ts, f"system:serviceaccount:{ns}:{sa}", r.choice(("get", "list", "watch")), res, ns, "", code=403
        )
    msg = (f'{res} is forbidden: User "system:serviceaccount:{ns}:{sa}" cannot list resource "{res}" in API group '
           f'"{"coordination.k8s.io" if res == "leases" else ""}" in the namespace "{ns}"')  # fmt: skip
    _errors(g, ns, pods, t0 + 20, t0 + 1800, [msg, f"failed to sync cache: {msg}"], r.randint(20, 60))
    truth = Truth("rbac_change", ns, w, obj, terms, "manual", obj)
    return Incident(truth, _alarm(g, ns, w, pods[0][0], t0 + 120, "error-rate", f"{w} reconcile failures"))


def probe_failure(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    g.pods_of(w)
    t0 = g.at(3, 21)
    who = r.choice(PEOPLE + BOTS)
    path = r.choice(("/ready", "/actuator/health/readiness", "/livez"))
    port = r.choice((8081, 9090, 8443))
    image = f"{REGISTRIES[0]}/{w}:v3.{r.randint(0, 9)}.{r.randint(0, 9)}"
    g.event(t0 - 5000, ns, "Pod", g.pods[w][0][0], "Pulled", f'Container image "{image}" already present on machine',
            warning=False, host=g.pods[w][0][1])  # fmt: skip
    g.audit(t0, who, "patch", "deployments", ns, w, group="apps",
            body=_deployment_body(w, image, probe_path=path, probe_port=port))  # fmt: skip
    new = g.new_pods(w, 2)
    for pod, node in new:
        ip = f"10.244.{r.randint(0, 9)}.{r.randint(2, 250)}"
        for k in range(r.randint(6, 14)):
            ts = t0 + 40 + k * r.uniform(20, 60)
            if r.random() < 0.5:
                g.event(ts, ns, "Pod", pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404",
                        host=node, count=k + 1)  # fmt: skip
            else:
                g.event(ts, ns, "Pod", pod, "Unhealthy", f'Liveness probe failed: Get "http://{ip}:{port}{path}": dial tcp '
                        f"{ip}:{port}: connect: connection refused", host=node, count=k + 1)  # fmt: skip
                g.event(ts + 1, ns, "Pod", pod, "Killing", f"Container {w} failed liveness probe, will be restarted",
                        warning=False, host=node)  # fmt: skip
    truth = Truth("probe_failure", ns, w, f"deployments/{w}", ((w, "健康检查"), (w, "探针")), "rollback_revision",
                  f"deployments/{w}")  # fmt: skip
    return Incident(truth, _alarm(g, ns, w, new[0][0], t0 + 200, "pod-not-ready", f"{w} ready pods 0/2"))


def quota_exceeded(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    g.pods_of(w)
    q = r.choice(QUOTAS)
    t0 = g.at(3, 21)
    who = r.choice(PEOPLE)
    g.audit(
        t0,
        who,
        "patch",
        "resourcequotas",
        ns,
        q,
        body={"spec": {"hard": {"limits.cpu": "8", "limits.memory": "16Gi"}}},
    )
    g.audit(t0 + r.uniform(300, 1200), r.choice(BOTS), "patch", "deployments", ns, w, group="apps",
            body=_deployment_body(w, f"{REGISTRIES[1]}/{w}:v5.0.{r.randint(0, 9)}"))  # fmt: skip
    rs = f"{w}-{g.rand(10)}"
    t1 = t0 + 1300
    for k in range(r.randint(6, 15)):
        g.event(t1 + k * 60, ns, "ReplicaSet", rs, "FailedCreate", f'Error creating: pods "{rs}-{g.rand(5)}" is forbidden: '
                f"exceeded quota: {q}, requested: limits.cpu=2,limits.memory=4Gi, used: limits.cpu=8,limits.memory=14Gi, "
                "limited: limits.cpu=8,limits.memory=16Gi", component="replicaset-controller")  # fmt: skip
    truth = Truth(
        "quota_exceeded", ns, w, f"resourcequotas/{q}", ((q,), (w, "配额")), "manual", f"resourcequotas/{q}"
    )
    return Incident(truth, _alarm(g, ns, w, "", t1 + 60, "workload-unavailable", f"{w} rollout stuck"))


def pvc_storage(g: Gen, ns: str) -> Incident:
    r = g.rng
    w = g.service()
    sc = r.choice(STORAGE_CLASSES)
    t0 = g.at(3, 21)
    who = r.choice(PEOPLE + BOTS)
    body = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": w},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": w, "image": f"{REGISTRIES[2]}/{w}:1.0"}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                               "spec": {"storageClassName": sc, "accessModes": ["ReadWriteOnce"]}}]}}  # fmt: skip
    g.audit(t0, who, "create", "statefulsets", ns, "", group="apps", body=body)
    pods = g.pods_of(w, 2, statefulset=True)
    for k in range(r.randint(5, 12)):
        ts = t0 + 10 + k * r.uniform(30, 120)
        g.event(ts, ns, "PersistentVolumeClaim", f"data-{w}-0", "ProvisioningFailed",
                f'storageclass.storage.k8s.io "{sc}" not found', component="persistentvolume-controller")  # fmt: skip
        g.event(ts + 2, ns, "Pod", pods[0][0], "FailedScheduling", "0/5 nodes are available: pod has unbound immediate "
                "PersistentVolumeClaims. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling.",
                component="default-scheduler")  # fmt: skip
    truth = Truth("pvc_storage", ns, w, f"storageclasses/{sc}", ((sc,),), "manual", f"statefulsets/{w}")
    return Incident(truth, _alarm(g, ns, w, pods[0][0], t0 + 300, "pod-pending", f"{w} pods pending"))


MAKERS: dict[str, Maker] = {
    "image_change": image_change, "config_change": config_change, "secret_change": secret_change,
    "oom_limits": oom_limits, "hpa_scaling": hpa_scaling, "node_pressure": node_pressure,
    "dns_coredns": dns_coredns, "cert_expiry": cert_expiry, "upstream_down": upstream_down,
    "rbac_change": rbac_change, "probe_failure": probe_failure, "quota_exceeded": quota_exceeded,
    "pvc_storage": pvc_storage, "crashloop_deploy": crashloop_deploy,
}  # fmt: skip


def build(seed: int) -> Scenario:
    """Scenario ``seed``: deterministic for a given seed."""
    rng = random.Random(seed)
    cls = class_of(seed)
    day = date(2026, 1, 1) + timedelta(days=rng.randint(0, 300))
    g = Gen(seed, day)
    owner = rng.choice(("ops-team", "sre-east", "platform", "oncall-b"))
    noise = rng.choice(("low", "medium", "high"))
    namespaces = rng.sample(NAMESPACES, 4)
    if cls == "no_logs":
        # the alarm arrives, but the day's logs were never delivered (or the key template is wrong)
        w = g.service()
        pod = g.pods_of(w)[0][0]
        at = g.at(2, 22)
        truth = Truth(
            "no_logs", namespaces[0], w, "", (("没有日志",), ("没有读到",), ("没有找到日志",)), "no_logs", ""
        )
        alarm = Alarm(at, namespaces[0], w, pod, "error-rate", f"{w} error rate high")
        return Scenario(
            seed, split_of(seed), cls, day.isoformat(), owner, noise, [Incident(truth, alarm)], {}, {}
        )
    background(g, noise, namespaces)
    incidents = [MAKERS[cls](g, namespaces[0])]
    extra = rng.choice((0, 1, 1, 2))
    others = [c for c in MAKERS if c != cls]
    for c in rng.sample(others, extra):
        incidents.append(MAKERS[c](g, rng.choice(namespaces[1:])))
    if CONFOUNDERS:
        for inc in incidents:
            if (
                inc.truth.namespace and rng.random() < 0.6
            ):  # an innocent rollout of a neighbour, minutes before
                n = g.service()
                g.pods_of(n)
                img = f"{rng.choice(REGISTRIES)}/{n}:v{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
                g.audit(inc.alarm.at - rng.uniform(600, 1500), rng.choice(PEOPLE + BOTS), "patch", "deployments",
                        inc.truth.namespace, n, group="apps", body=_deployment_body(n, img))  # fmt: skip
    shapes = {"business": g.biz_shape, "event": g.evt_shape, "audit": g.aud_shape}
    return Scenario(seed, split_of(seed), cls, day.isoformat(), owner, noise, incidents, g.lines(), shapes)


def scenarios(split: str | None = None) -> list[Scenario]:
    return [build(s) for s in range(N_SCENARIOS) if split is None or split_of(s) == split]
