"""Small pure helpers shared by the parsers: timestamps, levels, workload names, flattening.

Everything here runs once per line, so the hot paths avoid regular expressions and cache what repeats
(the same pod name or the same second appears thousands of times in a day).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import Any

# ---------------------------------------------------------------- timestamps

_fromiso = datetime.fromisoformat
_EPOCH_NAIVE = datetime(1970, 1, 1)
_OFFSETS: dict[tuple[tzinfo, int, int, int, int], float] = {}


def epoch_from_number(value: float) -> float:
    """Epoch seconds from a number in s, ms, µs or ns (decided by magnitude; valid for years 1973–5138)."""
    v = float(value)
    if v > 1e17:
        return v / 1e9
    if v > 1e14:
        return v / 1e6
    if v > 1e11:
        return v / 1e3
    return v


def naive_to_epoch(dt: datetime, tz: tzinfo) -> float:
    """Epoch seconds of a naive wall-clock time in ``tz``; the zone offset is cached per hour (DST-safe)."""
    wall = (dt - _EPOCH_NAIVE).total_seconds()
    if tz is UTC:
        return wall
    key = (tz, dt.year, dt.month, dt.day, dt.hour)
    offset = _OFFSETS.get(key)
    if offset is None:
        delta = dt.replace(tzinfo=tz).utcoffset()
        offset = delta.total_seconds() if delta is not None else 0.0
        if len(_OFFSETS) >= 65536:
            _OFFSETS.clear()
        _OFFSETS[key] = offset
    return wall - offset


def parse_ts(value: Any, tz: tzinfo = UTC) -> float | None:
    """Epoch seconds (UTC) from an ISO-8601/RFC3339 string or an epoch number/string; None if unusable.

    Naive timestamps are read in ``tz`` (the owner's zone). ``datetime.fromisoformat`` (C, Python ≥ 3.11)
    does the ISO work; it accepts "Z", offsets, "T" or space, comma decimals and nanosecond digits.
    """
    if type(value) is str:
        if len(value) >= 10 and value[4] == "-":
            try:
                dt = _fromiso(value)
            except ValueError:
                return _loose_iso(value, tz)
            if dt.tzinfo is None:
                return naive_to_epoch(dt, tz)
            return dt.timestamp()
        s = value.strip()
        if not s:
            return None
        try:
            num = float(s)
        except ValueError:
            return _loose_iso(s, tz)
        return epoch_from_number(num) if num > 0 else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_from_number(value) if value > 0 else None
    return None


_ZONE_GAP = re.compile(r"\s+(Z|[+-]\d{2}:?\d{2})$")


def _loose_iso(text: str, tz: tzinfo) -> float | None:
    """Second chance for near-ISO text: surrounding spaces, ``2024/06/01 …``, a space before the zone."""
    s = _ZONE_GAP.sub(r"\1", text.strip().replace("/", "-"))
    try:
        dt = _fromiso(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return naive_to_epoch(dt, tz)
    return dt.timestamp()


# ---------------------------------------------------------------- levels

_LEVEL_MAP = {
    "trace": "DEBUG",
    "debug": "DEBUG",
    "dbg": "DEBUG",
    "verbose": "DEBUG",
    "d": "DEBUG",
    "info": "INFO",
    "information": "INFO",
    "informational": "INFO",
    "notice": "INFO",
    "normal": "INFO",
    "i": "INFO",
    "warn": "WARN",
    "warning": "WARN",
    "w": "WARN",
    "error": "ERROR",
    "err": "ERROR",
    "e": "ERROR",
    "severe": "ERROR",
    "fatal": "FATAL",
    "critical": "FATAL",
    "crit": "FATAL",
    "panic": "FATAL",
    "emerg": "FATAL",
    "emergency": "FATAL",
    "alert": "FATAL",
    "f": "FATAL",
    "c": "FATAL",
}
_LEVEL_CACHE: dict[str, str] = {}


def normalize_level(value: Any, default: str = "INFO") -> str:
    """Map level spellings (and pino/bunyan numeric levels) to one of ``records.LEVELS``."""
    if isinstance(value, str):
        hit = _LEVEL_CACHE.get(value)
        if hit is not None:
            return hit
        mapped = _LEVEL_MAP.get(value.strip().lower())
        if mapped is None:
            return default
        if len(_LEVEL_CACHE) < 1024:
            _LEVEL_CACHE[value] = mapped
        return mapped
    if isinstance(value, int) and not isinstance(value, bool):
        # pino/bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal
        if value >= 60:
            return "FATAL"
        if value >= 50:
            return "ERROR"
        if value >= 40:
            return "WARN"
        if value >= 30:
            return "INFO"
        if value >= 10:
            return "DEBUG"
    return default


_LEVEL_WORD = re.compile(
    r"(?<![A-Za-z])(TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|ERR|SEVERE|FATAL|CRITICAL|PANIC|"
    r"trace|debug|info|notice|warning|warn|error|fatal|critical|panic)(?![A-Za-z])"
)


def level_in_text(text: str, default: str = "INFO") -> str:
    """The first level word in the first 120 characters of a plain-text line."""
    m = _LEVEL_WORD.search(text, 0, 120)
    if m is None:
        return default
    return _LEVEL_MAP.get(m.group(1).lower(), default)


# ---------------------------------------------------------------- workloads

# Kubernetes random suffixes use this alphabet (k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3).
_K8S_RAND = frozenset("bcdfghjklmnpqrstvwxz2456789")
_WORKLOAD_CACHE: dict[str, str] = {}


def _is_rand(segment: str, lo: int, hi: int) -> bool:
    return lo <= len(segment) <= hi and all(ch in _K8S_RAND for ch in segment)


def workload_from_pod(pod: str) -> str:
    """Controller name from a pod name.

    ``order-api-7d9f8c6b5-x2x9k`` → ``order-api`` (Deployment: ReplicaSet hash + pod suffix);
    ``nightly-28734120-abcde`` → ``nightly`` (CronJob); ``web-0`` → ``web`` (StatefulSet);
    ``node-exporter-x2x9k`` → ``node-exporter`` (DaemonSet/Job). Unknown shapes are returned unchanged.
    """
    if not pod:
        return ""
    hit = _WORKLOAD_CACHE.get(pod)
    if hit is not None:
        return hit
    parts = pod.split("-")
    name = pod
    if len(parts) >= 2:
        last = parts[-1]
        if last.isdigit() and len(last) <= 5:
            name = "-".join(parts[:-1])  # StatefulSet ordinal
        elif _is_rand(last, 5, 5):
            rest = parts[:-1]
            if len(rest) >= 2 and _is_rand(rest[-1], 6, 10) and not rest[-1].isdigit():
                rest = rest[:-1]  # ReplicaSet pod-template-hash
            elif len(rest) >= 2 and rest[-1].isdigit() and len(rest[-1]) >= 8:
                rest = rest[:-1]  # CronJob scheduled-time suffix
            name = "-".join(rest)
    if len(_WORKLOAD_CACHE) >= 65536:
        _WORKLOAD_CACHE.clear()
    _WORKLOAD_CACHE[pod] = name
    return name


def workload_from_replicaset(rs: str) -> str:
    """Deployment name from a ReplicaSet name (strip the pod-template-hash)."""
    head, sep, last = rs.rpartition("-")
    if sep and head and _is_rand(last, 6, 10) and not last.isdigit():
        return head
    return rs


# ---------------------------------------------------------------- dict helpers


def unflatten(obj: dict[str, Any]) -> dict[str, Any]:
    """``{"involvedObject.kind": "Pod"}`` → ``{"involvedObject": {"kind": "Pod"}}`` (only dotted keys change)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if "." not in key or key.startswith("__"):
            out[key] = value
            continue
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def has_dotted_keys(obj: dict[str, Any]) -> bool:
    return any("." in key and not key.startswith("__") for key in obj)


def first_str(obj: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = obj.get(key)
        if value is not None and value != "":
            return value if isinstance(value, str) else str(value)
    return ""


def as_obj(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (for optional nested objects of decoded JSON)."""
    return value if isinstance(value, dict) else {}


def dig(obj: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def truncate(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
