"""Parse a Prometheus Alertmanager webhook (payload version 4) into ``Alert`` objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from server.alerts.models import (
    Alert,
    AlertValidationError,
    Severity,
    fingerprint_of,
    group_key_of,
    resource_of,
)

_WORKLOAD_LABELS = (
    ("deployment", "deployment"),
    ("statefulset", "statefulset"),
    ("daemonset", "daemonset"),
    ("job_name", "job"),
    ("workload", ""),
    ("workload_name", ""),
)
_SEVERITY: dict[str, Severity] = {
    "critical": "critical",
    "page": "critical",
    "error": "critical",
    "high": "critical",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
}
_ZERO_YEAR = 1  # Go's zero time "0001-01-01T00:00:00Z" means "not set"


def parse_alertmanager(body: Any) -> list[Alert]:
    if not isinstance(body, Mapping):
        raise AlertValidationError("Alertmanager body must be a JSON object")
    version = body.get("version")
    if version is not None and str(version) != "4":
        raise AlertValidationError(f"unsupported Alertmanager payload version {version!r} (expected '4')")
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise AlertValidationError("alerts must be a non-empty list")
    labels = body.get("commonLabels")
    common: Mapping[str, Any] = labels if isinstance(labels, Mapping) else {}
    receiver = _s(body.get("receiver"))  # routes to an owner when bound (receiver:<name>)
    return [_one(item, i, common, receiver) for i, item in enumerate(alerts)]


def _one(item: Any, index: int, common: Mapping[str, Any], receiver: str = "") -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(item, Mapping):
        raise AlertValidationError(f"{where} must be a JSON object")
    status = item.get("status")
    if status not in ("firing", "resolved"):
        raise AlertValidationError(f"{where}.status must be 'firing' or 'resolved', got {status!r}")
    labels = _str_map(item.get("labels"), f"{where}.labels")
    annotations = _str_map(item.get("annotations", {}), f"{where}.annotations")
    alertname = labels.get("alertname") or _s(common.get("alertname"))
    if not alertname:
        raise AlertValidationError(f"{where}.labels.alertname is missing")
    starts = _time(item.get("startsAt"), f"{where}.startsAt", required=True)
    assert starts is not None
    ends = _time(item.get("endsAt"), f"{where}.endsAt", required=False)
    if status == "firing":
        ends = None  # Alertmanager sets a future endsAt on firing alerts (resolve timeout); not an end yet

    identity = _identity(labels)
    resource = resource_of(identity)
    summary = annotations.get("summary") or annotations.get("message") or annotations.get("description") or ""
    title = f"{alertname}: {summary} ({resource})" if summary else f"{alertname} ({resource})"
    out_labels = dict(labels)
    if item.get("fingerprint"):
        out_labels["am_fingerprint"] = _s(item.get("fingerprint"))
    if receiver:
        out_labels.setdefault("receiver", receiver)
    account = labels.get("account") or labels.get("tenant") or labels.get("appid") or None
    return Alert(
        source="alertmanager",
        status=status,
        fingerprint=fingerprint_of("alertmanager", alertname, identity),
        policy=alertname,
        severity=_SEVERITY.get(labels.get("severity", "").lower(), "warning"),
        title=title,
        resource=resource,
        group_key=group_key_of(f"alertmanager:{alertname}", identity),
        starts_at=starts,
        ends_at=ends,
        namespace=identity.get("namespace") or None,
        workload=identity.get("workload") or None,
        pod=identity.get("pod") or None,
        account=account,
        description=annotations.get("description", summary),
        labels=out_labels,
        raw=dict(item),
    )


def _identity(labels: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, names in (("cluster", ("cluster",)), ("namespace", ("namespace", "exported_namespace"))):
        for name in names:
            if labels.get(name):
                out[key] = labels[name]
                break
    for name, kind in _WORKLOAD_LABELS:
        if labels.get(name):
            out["workload"] = labels[name]
            out["workload_kind"] = (
                labels.get("workload_kind") or labels.get("workload_type") or kind
            ).lower()
            break
    if labels.get("pod"):
        out["pod"] = labels["pod"]
    if labels.get("container"):
        out["container"] = labels["container"]
    if not out.get("workload") and not out.get("pod") and labels.get("instance"):
        out["instance"] = labels["instance"]
    return {k: v for k, v in out.items() if v}


def _str_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise AlertValidationError(f"{name} must be a JSON object")
    return {str(k): _s(v) for k, v in value.items()}


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _time(value: Any, name: str, *, required: bool) -> datetime | None:
    if value in (None, ""):
        if required:
            raise AlertValidationError(f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise AlertValidationError(f"{name} must be an RFC 3339 string, got {value!r}")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise AlertValidationError(f"{name} must be an RFC 3339 time, got {value!r}") from None
    if parsed.tzinfo is None:
        raise AlertValidationError(f"{name} must carry a UTC offset, got {value!r}")
    if parsed.year == _ZERO_YEAR:
        if required:
            raise AlertValidationError(f"{name} is the zero time")
        return None
    return parsed.astimezone(UTC)
