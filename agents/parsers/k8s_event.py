"""Kubernetes Events: core/v1 (``involvedObject``/``message``) and events.k8s.io/v1 (``regarding``/``note``).

Accepts nested objects, dotted-flat keys (``involvedObject.kind``) and objects wrapped under ``event``.
Level: Warning → WARN, Normal → INFO. Message: ``reason + ": " + message``.
"""

from __future__ import annotations

import json
from datetime import UTC, tzinfo
from typing import Any

from agents.parsers.common import (
    as_obj,
    has_dotted_keys,
    parse_ts,
    unflatten,
    workload_from_pod,
    workload_from_replicaset,
)
from agents.records import LogKind, LogRecord

_TYPE_LEVEL = {"warning": "WARN", "normal": "INFO", "error": "ERROR"}
_WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Service", "Rollout"}
)


def looks_like_event(obj: dict[str, Any]) -> bool:
    return (
        "involvedObject" in obj
        or "regarding" in obj
        or ("reason" in obj and ("message" in obj or "note" in obj))
    )


def _unwrap(obj: dict[str, Any]) -> dict[str, Any]:
    if "involvedObject" not in obj and "regarding" not in obj and has_dotted_keys(obj):
        obj = unflatten(obj)
    inner = obj.get("event")
    if isinstance(inner, str) and inner.startswith("{"):
        try:
            inner = json.loads(inner)
        except ValueError:
            inner = None
    if isinstance(inner, dict) and looks_like_event(inner):
        return inner
    return obj


def workload_of(kind: str, name: str) -> str:
    """Workload name implied by an involved object."""
    if not name:
        return ""
    if kind == "Pod":
        return workload_from_pod(name)
    if kind == "ReplicaSet":
        return workload_from_replicaset(name)
    if kind in _WORKLOAD_KINDS:
        return name
    return ""


def event_from_obj(obj: dict[str, Any], raw: str, tz: tzinfo = UTC) -> LogRecord | None:
    """A LogRecord for one Event object, or None if the object is not an Event."""
    obj = _unwrap(obj)
    if not looks_like_event(obj):
        return None
    target = obj.get("involvedObject") or obj.get("regarding") or {}
    if not isinstance(target, dict):
        target = {}
    meta = as_obj(obj.get("metadata"))
    series = as_obj(obj.get("series"))
    source = obj.get("source") or obj.get("deprecatedSource") or {}
    if not isinstance(source, dict):
        source = {}

    ts = 0.0
    for value in (
        obj.get("lastTimestamp"),
        series.get("lastObservedTime"),
        obj.get("eventTime"),
        obj.get("deprecatedLastTimestamp"),
        obj.get("firstTimestamp"),
        obj.get("deprecatedFirstTimestamp"),
        meta.get("creationTimestamp"),
    ):
        if value:
            ts = parse_ts(value, tz) or 0.0
            if ts:
                break

    reason = str(obj.get("reason") or "")
    text = obj.get("message")
    if text is None:
        text = obj.get("note")
    text = str(text or "").strip()
    message = f"{reason}: {text}" if reason and text else (reason or text)

    kind = str(target.get("kind") or "")
    name = str(target.get("name") or "")
    count = obj.get("count") or obj.get("deprecatedCount") or series.get("count") or 1
    try:
        count = int(count)
    except (TypeError, ValueError):
        count = 1
    fields: dict[str, Any] = {
        "reason": reason,
        "type": str(obj.get("type") or ""),
        "count": count,
        "component": str(
            source.get("component") or obj.get("reportingController") or obj.get("reportingComponent") or ""
        ),
        "host": str(source.get("host") or ""),
    }
    if target.get("fieldPath"):
        fields["field_path"] = target["fieldPath"]
    first = obj.get("firstTimestamp") or obj.get("deprecatedFirstTimestamp")
    if first:
        fields["first_ts"] = parse_ts(first, tz) or 0.0
    if obj.get("action"):
        fields["action"] = obj["action"]
    return LogRecord(
        ts=ts,
        kind=LogKind.EVENT,
        level=_TYPE_LEVEL.get(fields["type"].lower(), "INFO"),
        message=message,
        namespace=str(target.get("namespace") or meta.get("namespace") or ""),
        workload=workload_of(kind, name),
        pod=name if kind == "Pod" else "",
        object=f"{kind}/{name}" if kind or name else "",
        raw=raw,
        fields=fields,
    )
