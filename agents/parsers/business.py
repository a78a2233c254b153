"""Application (business) logs: NDJSON objects, docker json-file lines, CLS-shipped JSON, plain text.

Field names vary by logging library, so each record field is looked up under its common aliases;
whatever is not recognised stays in ``LogRecord.fields`` (nothing is dropped).
"""

from __future__ import annotations

import json
from datetime import UTC, tzinfo
from typing import Any

from agents.parsers.cls import ClsMeta, is_cls, tag, unwrap_cls
from agents.parsers.common import level_in_text, normalize_level, parse_ts, workload_from_pod
from agents.parsers.plain import split_plain
from agents.records import LogKind, LogRecord

TS_KEYS = ("time", "ts", "timestamp", "@timestamp", "datetime", "date", "asctime", "t", "logtime", "log_time")
LEVEL_KEYS = (
    "level",
    "severity",
    "lvl",
    "loglevel",
    "log_level",
    "levelname",
    "level_name",
    "@level",
    "log.level",
)
MSG_KEYS = ("msg", "message", "log", "@message", "text", "event", "body", "content")
NS_KEYS = ("namespace", "k8s_namespace", "kubernetes_namespace", "namespace_name", "ns", "k8s.namespace.name")
WORKLOAD_KEYS = (
    "service",
    "app",
    "workload",
    "service_name",
    "serviceName",
    "application",
    "deployment",
    "app_name",
    "service.name",
)
POD_KEYS = (
    "pod",
    "pod_name",
    "podName",
    "k8s_pod",
    "kubernetes_pod_name",
    "k8s.pod.name",
    "kubernetes.pod_name",
)
TRACE_KEYS = ("trace_id", "traceId", "traceid", "trace", "traceID", "trace.id")
USER_KEYS = ("user", "user_id", "userId", "uid", "username", "user.name", "user.id")
_CONSUMED = frozenset(
    TS_KEYS
    + LEVEL_KEYS
    + MSG_KEYS
    + NS_KEYS
    + WORKLOAD_KEYS
    + POD_KEYS
    + TRACE_KEYS
    + USER_KEYS
    + ("stream",)
)


def _text(obj: dict[str, Any], keys: tuple[str, ...]) -> str:
    """First non-empty scalar under one of ``keys`` as text (dicts/lists are not names)."""
    for key in keys:
        value = obj.get(key)
        if value:
            if isinstance(value, str):
                return value
            if isinstance(value, int | float):
                return str(value)
    return ""


def _nested(obj: dict[str, Any]) -> tuple[str, str, str, Any]:
    """(namespace, workload, pod, level) from nested shapes: fluent-bit ``kubernetes``, ECS ``service``/``log``."""
    ns = wl = pod = ""
    level: Any = None
    k8s = obj.get("kubernetes")
    if isinstance(k8s, dict):
        ns = str(k8s.get("namespace_name") or k8s.get("namespace") or "")
        pod = str(k8s.get("pod_name") or k8s.get("pod") or "")
        labels = k8s.get("labels")
        if isinstance(labels, dict):
            wl = str(labels.get("app") or labels.get("app.kubernetes.io/name") or "")
    svc = obj.get("service")
    if isinstance(svc, dict):
        wl = wl or str(svc.get("name") or "")
    log = obj.get("log")
    if isinstance(log, dict):
        level = log.get("level")
    return ns, wl, pod, level


def business_from_obj(
    obj: dict[str, Any], raw: str, tz: tzinfo = UTC, meta: ClsMeta | None = None
) -> LogRecord:
    """One business record from a decoded JSON object (NDJSON, docker json-file or CLS-shipped).

    The hot path is a chain of ``dict.get`` calls for the most common spellings (one C call each);
    the full alias lists are consulted only when those miss.
    """
    if meta is None and "__" in raw and is_cls(obj):
        content, meta = unwrap_cls(obj)
        if isinstance(content, str):
            rec = business_from_text(content, raw, tz)
            _apply_cls(rec, meta)
            return rec
        obj = content
    get = obj.get
    log_value = get("log")
    if log_value is not None and type(log_value) is str and "stream" in obj and "msg" not in obj:
        return _docker(obj, log_value, raw, tz, meta)

    ts_value = get("time") or get("ts") or get("timestamp") or get("@timestamp")
    ts = parse_ts(ts_value, tz) if ts_value is not None else None
    if not ts:
        ts = parse_ts(_first(obj, TS_KEYS), tz) or 0.0
    message = get("msg") or get("message")
    if type(message) is not str:
        message = _text(obj, MSG_KEYS)
    level_value = get("level") or get("severity") or get("lvl")
    if level_value is None:
        level_value = _first(obj, LEVEL_KEYS)
    ns = get("namespace")
    if type(ns) is not str:
        ns = _text(obj, NS_KEYS)
    workload = get("service") or get("app")
    if type(workload) is not str:
        workload = _text(obj, WORKLOAD_KEYS)
    pod = get("pod")
    if type(pod) is not str:
        pod = _text(obj, POD_KEYS)
    if not (ns and workload and pod) or level_value is None:
        n_ns, n_wl, n_pod, n_level = _nested(obj)
        ns = ns or n_ns
        workload = workload or n_wl
        pod = pod or n_pod
        if level_value is None:
            level_value = n_level
    if level_value is None:
        level = level_in_text(message) if message else "INFO"
    else:
        level = normalize_level(level_value)
    fields = {k: v for k, v in obj.items() if k not in _CONSUMED}
    trace = get("trace_id")
    if type(trace) is not str:
        trace = _text(obj, TRACE_KEYS)
    if trace:
        fields["trace_id"] = trace
    user = get("user")
    if type(user) is not str:
        user = _text(obj, USER_KEYS)
    # positional: measurably cheaper than keywords at ~150k records/s
    rec = LogRecord(
        ts,
        LogKind.BUSINESS,
        level,
        message or raw,
        ns,
        workload or (workload_from_pod(pod) if pod else ""),
        pod,
        "",
        user,
        raw,
        fields,
    )
    if meta is not None:
        _apply_cls(rec, meta)
    return rec


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = obj.get(key)
        if value is not None and value != "":
            return value
    return None


def _docker(obj: dict[str, Any], payload: str, raw: str, tz: tzinfo, meta: ClsMeta | None) -> LogRecord:
    """docker json-file ``{"log": "<line>\\n", "stream": "stdout", "time": "..."}``: the payload is a line itself."""
    inner = payload.rstrip("\n")
    rec = None
    if inner.startswith("{"):
        try:
            decoded = json.loads(inner)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            rec = business_from_obj(decoded, raw, tz, meta or ClsMeta())
    if rec is None:
        rec = business_from_text(inner, raw, tz)
    if not rec.ts:
        rec.ts = parse_ts(obj.get("time"), tz) or 0.0
    rec.fields["stream"] = obj.get("stream")
    if meta is not None:
        _apply_cls(rec, meta)
    return rec


def business_from_text(
    text: str, raw: str | None = None, tz: tzinfo = UTC, year: int | None = None
) -> LogRecord:
    """A business record from a plain text line (``year`` completes year-less stamps such as syslog/klog)."""
    ts, level, message = split_plain(text, tz, year)
    return LogRecord(
        ts=ts, kind=LogKind.BUSINESS, level=level, message=message, raw=text if raw is None else raw
    )


def _apply_cls(rec: LogRecord, meta: ClsMeta) -> None:
    """Fill what the log itself did not say from CLS metadata (the log's own fields win)."""
    if not rec.ts:
        rec.ts = meta.ts
    if not rec.pod:
        rec.pod = tag(meta, "pod_name", "pod")
    if not rec.namespace:
        rec.namespace = tag(meta, "namespace", "pod_namespace")
    if not rec.workload:
        rec.workload = tag(meta, "workload_name", "pod_label_app", "pod_label_app.kubernetes.io/name")
        if not rec.workload and rec.pod:
            rec.workload = workload_from_pod(rec.pod)
    container = tag(meta, "container_name")
    if container:
        rec.fields.setdefault("container", container)
    if meta.hostname:
        rec.fields.setdefault("host", meta.hostname)
    if meta.filename:
        rec.fields.setdefault("file", meta.filename)
    if meta.source:
        rec.fields.setdefault("source_ip", meta.source)
