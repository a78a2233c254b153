"""Kubernetes audit events (audit.k8s.io/v1, also v1beta1 and the AKS ``properties.log`` wrapper).

Level: authorization denied or 401/403 → WARN, 5xx or a Panic stage → ERROR, otherwise INFO.
Message: a readable summary such as ``update deployments shop/order-api by alice (200)``.
"""

from __future__ import annotations

import json
from datetime import UTC, tzinfo
from typing import Any

from agents.parsers.common import as_obj, parse_ts, workload_from_pod, workload_from_replicaset
from agents.records import LogKind, LogRecord

_WORKLOAD_RESOURCES = frozenset(
    {"deployments", "statefulsets", "daemonsets", "jobs", "cronjobs", "services", "rollouts"}
)


def looks_like_audit(obj: dict[str, Any]) -> bool:
    return "auditID" in obj or (
        "verb" in obj and ("user" in obj or "objectRef" in obj or "requestURI" in obj)
    )


def _unwrap(obj: dict[str, Any]) -> dict[str, Any]:
    if looks_like_audit(obj):
        return obj
    props = obj.get("properties")  # AKS diagnostic logs: the audit event as an escaped string
    if isinstance(props, dict):
        inner = props.get("log")
        if isinstance(inner, str) and inner.startswith("{"):
            try:
                decoded = json.loads(inner)
            except ValueError:
                return obj
            if isinstance(decoded, dict):
                return decoded
    for key in ("event", "audit"):
        inner = obj.get(key)
        if isinstance(inner, str) and inner.startswith("{"):
            try:
                inner = json.loads(inner)
            except ValueError:
                inner = None
        if isinstance(inner, dict) and looks_like_audit(inner):
            return inner
    return obj


def audit_from_obj(obj: dict[str, Any], raw: str, tz: tzinfo = UTC) -> LogRecord | None:
    """A LogRecord for one audit event, or None if the object is not an audit event."""
    obj = _unwrap(obj)
    if not looks_like_audit(obj):
        return None
    user = as_obj(obj.get("user"))
    ref = as_obj(obj.get("objectRef"))
    status = as_obj(obj.get("responseStatus"))
    annotations = as_obj(obj.get("annotations"))

    verb = str(obj.get("verb") or "")
    username = str(user.get("username") or "")
    resource = str(ref.get("resource") or "")
    sub = str(ref.get("subresource") or "")
    ns = str(ref.get("namespace") or "")
    name = str(ref.get("name") or "")
    try:
        code = int(status.get("code") or 0)
    except (TypeError, ValueError):
        code = 0
    decision = str(annotations.get("authorization.k8s.io/decision") or "")
    stage = str(obj.get("stage") or "")

    if code >= 500 or stage == "Panic":
        level = "ERROR"
    elif decision == "forbid" or code in (401, 403):
        level = "WARN"
    else:
        level = "INFO"

    what = f"{resource}/{sub}" if sub else resource
    target = "/".join(p for p in (ns, name) if p)
    if not what:  # non-resource request, e.g. "get /healthz"
        what, target = str(obj.get("requestURI") or ""), ""
    parts = [verb, what] + ([target] if target else []) + ["by", username or "unknown"]
    summary = " ".join(p for p in parts if p) + f" ({code if code else '-'})"

    ts = parse_ts(obj.get("requestReceivedTimestamp"), tz) or parse_ts(obj.get("stageTimestamp"), tz) or 0.0
    fields: dict[str, Any] = {
        "verb": verb,
        "code": code,
        "resource": resource,
        "subresource": sub,
        "api_group": str(ref.get("apiGroup") or ""),
        "stage": stage,
        "audit_id": str(obj.get("auditID") or ""),
        "decision": decision,
        "source_ips": obj.get("sourceIPs") or [],
        "user_agent": str(obj.get("userAgent") or ""),
        "request_uri": str(obj.get("requestURI") or ""),
    }
    if annotations.get("authorization.k8s.io/reason"):
        fields["authz_reason"] = annotations["authorization.k8s.io/reason"]
    if status.get("reason") or status.get("message"):
        fields["status_reason"] = str(status.get("reason") or "")
        fields["status_message"] = str(status.get("message") or "")
    stage_ts = parse_ts(obj.get("stageTimestamp"), tz)
    if stage_ts:
        fields["stage_ts"] = stage_ts
    impersonated = obj.get("impersonatedUser")
    if isinstance(impersonated, dict) and impersonated.get("username"):
        fields["impersonated_user"] = impersonated["username"]
    if user.get("groups"):
        fields["groups"] = user["groups"]

    if resource == "pods":
        workload, pod = workload_from_pod(name), name
    elif resource == "replicasets":
        workload, pod = workload_from_replicaset(name), ""
    elif resource in _WORKLOAD_RESOURCES:
        workload, pod = name, ""
    else:
        workload, pod = "", ""
    return LogRecord(
        ts=ts,
        kind=LogKind.AUDIT,
        level=level,
        message=summary,
        namespace=ns,
        workload=workload,
        pod=pod,
        object=f"{resource}/{name}" if name else resource,
        user=username,
        raw=raw,
        fields=fields,
    )
