from __future__ import annotations

from pathlib import Path

import pytest

from agents.findings import Finding
from agents.index import E5Embedder, LogIndex
from agents.records import LogKind


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> E5Embedder:
    """One embedder (and one cache) for the session: each text is embedded once across all tests."""
    return E5Embedder(cache_dir=tmp_path_factory.mktemp("emb-cache"), threads=2)


@pytest.fixture
def index(tmp_path: Path, embedder: E5Embedder) -> LogIndex:
    return LogIndex(tmp_path / "chroma", embedder)


def tpl(
    text: str, kind: str, level: str, count: int = 10, workload: str = "", namespace: str = "shop"
) -> dict:
    return {
        "template": text,
        "kind": kind,
        "level": level,
        "count": count,
        "workload": workload,
        "namespace": namespace,
    }


# A small day: the incidents the questions ask about, among routine noise that shares their words.
TEMPLATES = [
    tpl(
        'Failed to pull image "registry.example.com/shop/order-api:<*>": rpc error: code = NotFound desc = manifest unknown',
        "event",
        "WARN",
        40,
        "order-api",
    ),
    tpl(
        'Back-off pulling image "registry.example.com/shop/order-api:<*>"', "event", "WARN", 120, "order-api"
    ),
    tpl('Pulling image "registry.example.com/shop/cart-svc:<*>"', "event", "INFO", 300, "cart-svc"),
    tpl(
        'Successfully pulled image "registry.example.com/shop/cart-svc:<*>" in <*>',
        "event",
        "INFO",
        300,
        "cart-svc",
    ),
    tpl(
        "Container inventory-svc in pod inventory-svc-<*> was OOMKilled (exit code 137), memory limit 512Mi",
        "event",
        "WARN",
        6,
        "inventory-svc",
    ),
    tpl(
        "Back-off restarting failed container search-svc in pod search-svc-<*>",
        "event",
        "WARN",
        30,
        "search-svc",
    ),
    tpl("Readiness probe failed: HTTP probe failed with statuscode: 503", "event", "WARN", 22, "user-center"),
    tpl("Scaled up replica set order-api-<*> to <*>", "event", "INFO", 4, "order-api"),
    tpl("Started container order-api", "event", "INFO", 50, "order-api"),
    tpl(
        "Payment request to gateway <*> timed out after <*> ms order_id=<*>",
        "business",
        "ERROR",
        87,
        "payment-svc",
    ),
    tpl("Payment <*> succeeded via <*> amount=<*>", "business", "INFO", 9000, "payment-svc"),
    tpl(
        "HikariPool-1 - Connection is not available, request timed out after 30000ms",
        "business",
        "ERROR",
        15,
        "order-api",
    ),
    tpl(
        "Login failed for user <*>: invalid password (attempt <*> of 5)",
        "business",
        "WARN",
        44,
        "user-center",
    ),
    tpl("Order <*> created for user <*> amount=<*>", "business", "INFO", 7000, "order-api"),
    tpl("GET /api/v1/<*> 200 <*>ms", "business", "INFO", 50000, "order-api"),
    tpl("alice@corp create clusterrolebindings/<*> roleRef=cluster-admin status=201", "audit", "INFO", 1),
    tpl("bob@corp get secrets/<*> in namespace payment status=200", "audit", "INFO", 3),
    tpl(
        "ci-deployer patch deployments/order-api in namespace shop set image order-api=registry.example.com/shop/order-api:<*>",
        "audit",
        "INFO",
        2,
    ),
    tpl(
        "system:serviceaccount:kube-system:<*> get leases/<*> in namespace kube-system status=200",
        "audit",
        "INFO",
        20000,
    ),
    tpl("system:anonymous get /api/v1/namespaces status=401 Unauthorized", "audit", "WARN", 5),
]

FINDINGS = [
    Finding(
        kind=LogKind.AUDIT,
        category="risky_audit",
        severity="high",
        title="alice@corp bound cluster-admin via a new ClusterRoleBinding",
        summary_zh="用户 alice 新建了集群管理员权限绑定。",
        count=1,
        user="alice@corp",
    ),
    Finding(
        kind=LogKind.BUSINESS,
        category="spike",
        severity="high",
        title="Payment gateway timeouts spiked in payment-svc",
        summary_zh="支付服务调用支付网关超时激增，共 87 次。",
        count=87,
        workload="payment-svc",
        namespace="shop",
        template=TEMPLATES[9]["template"],
    ),
]
