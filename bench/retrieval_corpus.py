"""A deterministic, realistic corpus of mined log templates for the retrieval benchmark.

~300 English templates from a small shop cluster: business services, Kubernetes events and audit
operations, as a Drain-style miner would leave them (variables masked as <*>, stable names such as
deployments and namespaces kept). Every template carries a `family` label; the labelled Chinese queries
in data/retrieval_queries.json name the families that answer them. Routine INFO families are there as
distractors (e.g. "Pulling image" next to "Failed to pull image").
"""

from __future__ import annotations

import hashlib
from typing import Any

BUSINESS = ["order-api", "payment-svc", "user-center", "inventory-svc", "cart-svc", "notification-svc"]
WORKLOADS = ["order-api", "payment-svc", "user-center", "inventory-svc", "search-svc", "shipping-svc"]
NAMESPACES = ["shop", "payment", "platform"]
USERS = ["alice@corp", "bob@corp", "ci-deployer", "system:serviceaccount:argocd:argocd-server"]

# family: (kind, level, service pool or None, [templates]); {svc}, {ns}, {user} are expanded.
FAMILIES: dict[str, tuple[str, str, list[str] | None, list[str]]] = {
    # ---- business ----
    "pay_timeout": (
        "business",
        "ERROR",
        ["payment-svc", "order-api"],
        [
            "Payment request to gateway <*> timed out after <*> ms order_id=<*>",
            "WechatPay notify callback not received within <*> s for order <*>",
            "alipay trade.query deadline exceeded after <*> ms",
        ],
    ),
    "pay_fail": (
        "business",
        "ERROR",
        ["payment-svc"],
        [
            "Payment <*> failed: insufficient balance for user <*>",
            "Charge declined by issuer code=<*> order_id=<*>",
            "Payment channel returned SYSTEM_ERROR for order <*>",
        ],
    ),
    "refund_fail": (
        "business",
        "ERROR",
        ["payment-svc"],
        [
            "Refund <*> rejected by channel: amount <*> exceeds original payment",
            "Refund job failed for order <*>: <*>",
        ],
    ),
    "db_pool": (
        "business",
        "ERROR",
        ["order-api", "user-center", "inventory-svc"],
        [
            "HikariPool-1 - Connection is not available, request timed out after 30000ms",
            "Error 1040: Too many connections (max_connections=<*>)",
        ],
    ),
    "db_slow": (
        "business",
        "WARN",
        ["order-api", "inventory-svc"],
        ["Slow query took <*> ms: SELECT * FROM orders WHERE user_id = ? ORDER BY created_at"],
    ),
    "redis": (
        "business",
        "ERROR",
        ["cart-svc", "user-center"],
        [
            "Redis command GET timed out after <*> ms",
            "Could not connect to Redis at <*>:6379: Connection refused",
        ],
    ),
    "kafka_lag": (
        "business",
        "WARN",
        ["order-api", "notification-svc"],
        ["Consumer group order-events lag <*> exceeds threshold <*> on topic <*>"],
    ),
    "login_fail": (
        "business",
        "WARN",
        ["user-center"],
        [
            "Login failed for user <*>: invalid password (attempt <*> of 5)",
            "Authentication failed: bad credentials from ip <*>",
            "Account <*> locked after <*> failed login attempts",
        ],
    ),
    "jwt_expired": (
        "business",
        "WARN",
        ["user-center", "order-api"],
        ["JWT token expired for session <*>, rejecting request"],
    ),
    "inventory_short": (
        "business",
        "WARN",
        ["inventory-svc", "order-api"],
        ["Insufficient stock for sku <*>: requested <*>, available <*>"],
    ),
    "npe": (
        "business",
        "ERROR",
        ["order-api", "cart-svc"],
        [
            "java.lang.NullPointerException at com.shop.order.OrderService.create(OrderService.java:<*>)",
            "Unhandled exception in request <*>: NullPointerException",
        ],
    ),
    "upstream_5xx": (
        "business",
        "ERROR",
        ["order-api", "cart-svc", "payment-svc"],
        ["Upstream inventory-svc returned 503 Service Unavailable", "HTTP 502 Bad Gateway from upstream <*>"],
    ),
    "rate_limited": (
        "business",
        "WARN",
        ["order-api", "payment-svc"],
        ["Rate limit exceeded for client <*>: 429 Too Many Requests"],
    ),
    "circuit_open": (
        "business",
        "WARN",
        ["order-api", "cart-svc"],
        ["Circuit breaker inventory-client is OPEN, using fallback response"],
    ),
    "dns_fail": (
        "business",
        "ERROR",
        ["order-api", "user-center"],
        ["dial tcp: lookup mysql-primary.db.svc.cluster.local on <*>:53: no such host"],
    ),
    "tls_expired": (
        "business",
        "ERROR",
        ["payment-svc", "notification-svc"],
        ["x509: certificate has expired or is not yet valid: current time <*> is after <*>"],
    ),
    "disk_full": (
        "business",
        "ERROR",
        ["order-api", "notification-svc"],
        ["write /data/uploads/<*>: no space left on device"],
    ),
    "sms_fail": (
        "business",
        "ERROR",
        ["notification-svc"],
        ["SMS send to <*> failed: provider returned code <*>", "Email delivery to <*> bounced: <*>"],
    ),
    "order_created": ("business", "INFO", ["order-api"], ["Order <*> created for user <*> amount=<*>"]),
    "payment_ok": ("business", "INFO", ["payment-svc"], ["Payment <*> succeeded via <*> amount=<*>"]),
    "login_ok": ("business", "INFO", ["user-center"], ["User <*> logged in successfully from <*>"]),
    "http_access": (
        "business",
        "INFO",
        BUSINESS,
        ["GET /api/v1/<*> 200 <*>ms", "POST /api/v1/<*> 201 <*>ms", "PUT /api/v1/<*> 200 <*>ms"],
    ),
    "routine_business": (
        "business",
        "INFO",
        BUSINESS,
        [
            "Configuration reloaded from /etc/app/config.yaml",
            "Scheduled job <*> completed in <*> ms",
            "Cache hit ratio <*> over last 60s",
            "Health check OK",
            "Connected to database <*> pool size <*>",
            "Kafka consumer partitions assigned: <*>",
        ],
    ),
    "retry_generic": (
        "business",
        "WARN",
        BUSINESS,
        ["Retrying request to <*> (attempt <*> of 3)", "Request <*> took longer than expected: <*> ms"],
    ),
    "routine_jvm": (
        "business",
        "INFO",
        BUSINESS[:4],
        ["GC pause (G1 Evacuation Pause) <*> ms", "Feature flag <*> evaluated to <*> for tenant <*>"],
    ),
    # ---- k8s events ----
    "image_pull": (
        "event",
        "WARN",
        WORKLOADS,
        [
            'Failed to pull image "<*>": rpc error: code = NotFound desc = manifest unknown',
            'Back-off pulling image "registry.example.com/{ns}/{svc}:<*>"',
            "Error: ImagePullBackOff",
        ],
    ),
    "crashloop": (
        "event",
        "WARN",
        WORKLOADS,
        ["Back-off restarting failed container {svc} in pod {svc}-<*>"],
    ),
    "oom": (
        "event",
        "WARN",
        WORKLOADS,
        [
            "Container {svc} in pod {svc}-<*> was OOMKilled (exit code 137), memory limit 512Mi",
            "Memory cgroup out of memory: Killed process <*> (java) total-vm:<*>kB",
        ],
    ),
    "sched": (
        "event",
        "WARN",
        WORKLOADS[:4],
        [
            "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available",
            "0/3 nodes are available: 1 node(s) had untolerated taint {{node.kubernetes.io/disk-pressure: }}, 2 Insufficient cpu",
        ],
    ),
    "probe": (
        "event",
        "WARN",
        WORKLOADS,
        [
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            'Liveness probe failed: Get "http://<*>:8080/healthz": context deadline exceeded',
        ],
    ),
    "evicted": (
        "event",
        "WARN",
        WORKLOADS[:3],
        [
            "The node was low on resource: ephemeral-storage. Container {svc} was using <*>, request is 0",
            "Evicted pod {svc}-<*>",
        ],
    ),
    "node_notready": (
        "event",
        "WARN",
        None,
        ["Node <*> status is now: NodeNotReady", "Kubelet stopped posting node status for node <*>"],
    ),
    "mount": (
        "event",
        "WARN",
        WORKLOADS[:4],
        [
            'MountVolume.SetUp failed for volume "<*>" : secret "{svc}-tls" not found',
            'AttachVolume.Attach failed for volume "pvc-<*>" : timed out waiting for the condition',
        ],
    ),
    "pvc_fail": (
        "event",
        "WARN",
        None,
        ['Failed to provision volume with StorageClass "cbs": <*>', "waiting for a volume to be created"],
    ),
    "hpa": (
        "event",
        "INFO",
        WORKLOADS[:4],
        ["New size: <*>; reason: cpu resource utilization (percentage of request) above target"],
    ),
    "scaling": (
        "event",
        "INFO",
        WORKLOADS,
        ["Scaled up replica set {svc}-<*> to <*>", "Scaled down replica set {svc}-<*> to <*>"],
    ),
    "routine_event": (
        "event",
        "INFO",
        WORKLOADS,
        [
            "Successfully assigned {ns}/{svc}-<*> to <*>",
            'Pulling image "registry.example.com/{ns}/{svc}:<*>"',
            'Successfully pulled image "registry.example.com/{ns}/{svc}:<*>" in <*>',
            "Created container {svc}",
            "Started container {svc}",
            "Stopping container {svc}",
            "Created pod: {svc}-<*>",
            "Deleted pod: {svc}-<*>",
            "Updated Deployment {svc}: revision <*>",
            "Endpoints {svc} updated with <*> ready addresses",
        ],
    ),
    # ---- k8s audit ----
    "rbac_change": (
        "audit",
        "INFO",
        None,
        [
            "{user} create clusterrolebindings/<*> roleRef=cluster-admin status=201",
            "{user} patch roles/<*> in namespace {ns} status=200",
            "{user} delete rolebindings/<*> in namespace {ns} status=200",
        ],
    ),
    "secret_read": (
        "audit",
        "INFO",
        None,
        [
            "{user} get secrets/<*> in namespace {ns} status=200",
            "{user} list secrets in namespace {ns} status=200",
        ],
    ),
    "exec": ("audit", "INFO", None, ["{user} create pods/exec {svc}-<*> in namespace {ns} status=101"]),
    "delete_workload": (
        "audit",
        "INFO",
        None,
        [
            "{user} delete deployments/{svc} in namespace {ns} status=200",
            "{user} delete namespaces/<*> status=200",
        ],
    ),
    "scale_change": ("audit", "INFO", None, ["{user} patch deployments/{svc}/scale replicas=<*> status=200"]),
    "image_update": (
        "audit",
        "INFO",
        None,
        [
            "{user} patch deployments/{svc} in namespace {ns} set image {svc}=registry.example.com/{ns}/{svc}:<*>"
        ],
    ),
    "configmap_change": (
        "audit",
        "INFO",
        None,
        ["{user} update configmaps/{svc}-config in namespace {ns} status=200"],
    ),
    "rollback": (
        "audit",
        "INFO",
        None,
        ["{user} patch deployments/{svc} in namespace {ns} rollback to revision <*> status=200"],
    ),
    "forbidden": (
        "audit",
        "WARN",
        None,
        [
            "{user} get secrets/<*> in namespace {ns} status=403 Forbidden: RBAC: access denied",
            "system:anonymous get /api/v1/namespaces status=401 Unauthorized",
        ],
    ),
    "sa_token": (
        "audit",
        "INFO",
        None,
        ["{user} create serviceaccounts/<*>/token in namespace {ns} status=201"],
    ),
    "node_drain": (
        "audit",
        "INFO",
        None,
        [
            "{user} patch nodes/<*> spec.unschedulable=true (cordon) status=200",
            "{user} create pods/<*>/eviction in namespace {ns} status=201",
        ],
    ),
    "routine_audit": (
        "audit",
        "INFO",
        None,
        [
            "system:serviceaccount:kube-system:<*> get leases/<*> in namespace kube-system status=200",
            "system:node:<*> patch nodes/<*>/status status=200",
            "system:kube-scheduler watch pods status=200",
            "{user} list pods in namespace {ns} status=200",
            "{user} get deployments/{svc} in namespace {ns} status=200",
            "{user} get configmaps/{svc}-config in namespace {ns} status=200",
            "{user} list replicasets in namespace {ns} labelSelector=app={svc} status=200",
            "system:serviceaccount:{ns}:{svc} get endpoints/{svc} status=200",
            "system:serviceaccount:monitoring:prometheus list endpoints status=200",
        ],
    ),
}


def build_corpus() -> list[dict[str, Any]]:
    """The full corpus (deterministic: same list, same order, same counts on every run)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for family, (kind, level, pool, templates) in FAMILIES.items():
        for ti, tpl in enumerate(templates):
            subjects = pool or WORKLOADS
            for si, svc in enumerate(subjects):
                ns = NAMESPACES[(si + ti) % len(NAMESPACES)]
                user = USERS[(si + ti) % len(USERS)]
                text = tpl.format(svc=svc, ns=ns, user=user)
                if text in seen:
                    continue
                seen.add(text)
                h = int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)
                count = (h % 5000 + 50) if level == "INFO" else (h % 400 + 1)
                out.append(
                    {
                        "id": hashlib.sha1(f"{kind}|{text}".encode()).hexdigest()[:16],
                        "template": text,
                        "kind": kind,
                        "level": level,
                        "count": count,
                        "namespace": ns if kind != "business" else "shop",
                        "workload": svc,
                        "family": family,
                    }
                )
    return out


if __name__ == "__main__":
    corpus = build_corpus()
    print(len(corpus), "templates in", len(FAMILIES), "families")
