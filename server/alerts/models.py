"""The one normalised alert shape every source is parsed into."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from server.storage.db import fit_text

Source = Literal["tencent", "alertmanager"]
Status = Literal["firing", "resolved"]
Severity = Literal["info", "warning", "critical"]

# The String(n) sizes of these fields' columns (server/alerts/store.py): longer label values are legal in a webhook,
# and PostgreSQL would refuse to store them, so an Alert never carries more.
MAX_LEN = {
    "policy": 255,
    "title": 500,
    "resource": 255,
    "group_key": 255,
    "namespace": 128,
    "workload": 255,
    "pod": 255,
    "account": 64,
    "session_id": 128,
}

# Resource-identity label names, most specific last. Used for the fingerprint and for the group key.
IDENTITY_KEYS = ("cluster", "namespace", "workload_kind", "workload", "pod", "container", "instance")


class AlertValidationError(ValueError):
    """A webhook body that cannot be understood. The message says which field and why."""


@dataclass(slots=True)
class Alert:
    source: Source
    status: Status
    fingerprint: str
    policy: str  # Tencent policyId (or name) / Alertmanager alertname
    severity: Severity
    title: str
    resource: str  # human-readable resource ("prod/deployment/api", "ins-xxxx")
    group_key: str  # what aggregation groups on: the workload (pods roll up) or the instance
    starts_at: datetime
    ends_at: datetime | None = None
    namespace: str | None = None
    workload: str | None = None
    pod: str | None = None
    account: str | None = None  # cloud account (Tencent appId/uin); routes the alert to an owner
    session_id: str | None = None  # Tencent sessionId: retries of one notification share it
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"Alert.{name} must be timezone-aware")
        for name, limit in MAX_LEN.items():
            text = getattr(self, name)
            if text is not None and len(text) > limit:
                setattr(self, name, fit_text(text, limit))

    @property
    def group_resource(self) -> str:
        """The resource the group stands for: the workload when pods roll up to it."""
        if self.pod and self.workload and self.resource.endswith("/" + self.pod):
            return self.resource[: -len(self.pod) - 1]
        return self.resource

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "status": self.status,
            "fingerprint": self.fingerprint,
            "policy": self.policy,
            "severity": self.severity,
            "title": self.title,
            "resource": self.resource,
            "group_key": self.group_key,
            "namespace": self.namespace,
            "workload": self.workload,
            "pod": self.pod,
            "account": self.account,
            "session_id": self.session_id,
            "description": self.description,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "labels": dict(self.labels),
        }


def fingerprint_of(source: str, policy: str, identity: dict[str, str]) -> str:
    """Stable across firing/resolved and across retries: source + policy + resource identity only."""
    canon = json.dumps(
        [source, policy, sorted((k, v) for k, v in identity.items() if v)],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canon.encode()).hexdigest()[:32]


def group_key_of(source_scope: str, identity: dict[str, str]) -> str:
    """Pods of one workload share a group *per alarm policy* (``source_scope`` names the source and policy):
    another policy firing on the same workload is another incident, so it opens its own case and is spoken,
    never folded into the earlier group. Without a workload or pod, the instance is the resource."""
    parts = [identity.get("cluster", ""), identity.get("namespace", "")]
    if identity.get("workload"):
        parts += [identity.get("workload_kind", ""), identity["workload"], source_scope]
    elif identity.get("pod"):
        parts += ["pod", identity["pod"], source_scope]
    elif identity.get("instance"):
        parts += ["instance", identity["instance"], source_scope]
    else:
        parts += ["scope", source_scope]
    return "/".join(parts)


def resource_of(identity: dict[str, str]) -> str:
    if identity.get("workload"):
        kind = (identity.get("workload_kind") or "workload").lower()
        base = f"{identity.get('namespace') or '-'}/{kind}/{identity['workload']}"
        return f"{base}/{identity['pod']}" if identity.get("pod") else base
    if identity.get("pod"):
        return f"{identity.get('namespace') or '-'}/pod/{identity['pod']}"
    return identity.get("instance") or identity.get("cluster") or "unknown"


def utcnow() -> datetime:
    return datetime.now(UTC)
