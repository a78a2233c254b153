"""Parse a Tencent Cloud Monitor (TCOP) alarm callback body into an ``Alert``.

The callback is loosely typed: most numbers may arrive as strings ("1" or 1), ``recoverTime`` is "0" until the
alarm recovers, times are naive "YYYY-MM-DD HH:MM:SS" in the account's console zone (Asia/Shanghai by default).
TKE alarms carry the Kubernetes identity in ``alarmObjInfo.dimensions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.alerts.models import (
    Alert,
    AlertValidationError,
    Severity,
    Status,
    fingerprint_of,
    group_key_of,
    resource_of,
)

_TIME_FMT = "%Y-%m-%d %H:%M:%S"
_ALARM_KEYS = ("alarmStatus", "alarmType", "alarmObjInfo", "alarmPolicyInfo")

# dimension name variants -> our identity key (first present wins)
_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "cluster": ("tke_cluster_instance_id", "clusterId", "cluster_id"),
    "namespace": ("namespace",),
    "workload_kind": ("workload_kind",),
    "workload": ("workload_name",),
    "pod": ("pod_name",),
    "container": ("container_name",),
    "instance": ("unInstanceId", "un_instance_id", "InstanceId", "instanceId", "objId", "objName"),
}

_LEVELS: dict[str, Severity] = {
    "remind": "info",
    "info": "info",
    "提醒": "info",
    "warn": "warning",
    "warning": "warning",
    "警告": "warning",
    "serious": "critical",
    "critical": "critical",
    "严重": "critical",
}


def is_probe(body: Mapping[str, Any]) -> bool:
    """The console's connectivity check when a callback URL is saved carries no alarm fields."""
    return not any(k in body for k in _ALARM_KEYS)


def session_id_of(body: Mapping[str, Any]) -> str:
    sid = body.get("sessionId")
    if isinstance(sid, bool) or not isinstance(sid, str | int) or str(sid).strip() == "":
        return ""
    return str(sid).strip()


def parse_tencent(body: Any, *, tz: ZoneInfo | str = "Asia/Shanghai") -> Alert:
    """One callback body -> one Alert. Raises AlertValidationError naming the bad field."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if not isinstance(body, Mapping):
        raise AlertValidationError("Tencent alarm body must be a JSON object")
    session_id = session_id_of(body)
    if not session_id:
        raise AlertValidationError("sessionId is missing or empty")

    status_code = _as_int(body.get("alarmStatus"), "alarmStatus")
    if status_code not in (0, 1):
        raise AlertValidationError(
            f"alarmStatus must be 1 (alarm) or 0 (recovered), got {body.get('alarmStatus')!r}"
        )
    alarm_type = body.get("alarmType", "metric")
    if alarm_type not in ("metric", "event"):
        raise AlertValidationError(f"alarmType must be 'metric' or 'event', got {alarm_type!r}")

    obj = _mapping(body.get("alarmObjInfo"), "alarmObjInfo")
    policy_info = _mapping(body.get("alarmPolicyInfo"), "alarmPolicyInfo")
    conditions = _mapping(policy_info.get("conditions", {}), "alarmPolicyInfo.conditions")
    dims = _mapping(obj.get("dimensions", {}), "alarmObjInfo.dimensions")

    identity = _identity(dims)
    policy = _text(policy_info.get("policyId")) or _text(policy_info.get("policyName"))
    if alarm_type == "metric":
        what = _text(conditions.get("metricName"))
        if not what:
            raise AlertValidationError("metric alarm without alarmPolicyInfo.conditions.metricName")
    else:
        what = _text(conditions.get("eventName"))
        if not what:
            raise AlertValidationError("event alarm without alarmPolicyInfo.conditions.eventName")
    if not policy:
        policy = f"{alarm_type}:{what}"  # event alarms may lack policyId

    first = _parse_time(body.get("firstOccurTime"), "firstOccurTime", zone, required=True)
    assert first is not None
    duration = _as_int(body.get("durationTime", 0), "durationTime", default=0)
    recover = _parse_time(body.get("recoverTime"), "recoverTime", zone, required=False)
    status: Status = "firing" if status_code == 1 else "resolved"
    ends_at = None
    if status == "resolved":
        ends_at = recover or first + timedelta(seconds=max(duration, 0))

    product = _text(policy_info.get("policyTypeCName")) or _text(policy_info.get("policyType")) or "云监控"
    if alarm_type == "metric":
        show = _text(conditions.get("metricShowName")) or what
        unit = _text(conditions.get("calcUnit")) or _text(conditions.get("unit"))
        cond = f"{_text(conditions.get('calcType'))}{_text(conditions.get('calcValue'))}{unit}"
        current = _text(conditions.get("currentValue"))
        detail = f"{show} {cond}".strip() + (f"，当前 {current}{unit}" if current else "")
    else:
        detail = _text(conditions.get("eventShowName")) or what
    resource = resource_of(identity)
    title = f"{product}: {detail} ({resource})"

    account = _text(obj.get("appId")) or _text(obj.get("uin")) or None
    labels = {k: v for k, v in identity.items() if v}
    labels.update(
        {
            "alarm_type": alarm_type,
            "policy_name": _text(policy_info.get("policyName")),
            "product_namespace": _text(obj.get("namespace")),
            "region": _text(obj.get("region")),
            "signal": what,
        }
    )
    for item in body.get("additionalMsg") or []:
        if isinstance(item, Mapping) and _text(item.get("key")):
            labels.setdefault(f"extra_{_text(item.get('key'))}", _text(item.get("value")))
    return Alert(
        source="tencent",
        status=status,
        fingerprint=fingerprint_of("tencent", f"{policy}|{what}", identity),
        policy=policy,
        severity=_severity(body, policy_info, conditions),
        title=title,
        resource=resource,
        group_key=group_key_of(f"tencent:{policy}", identity),
        starts_at=first,
        ends_at=ends_at,
        namespace=identity.get("namespace") or None,
        workload=identity.get("workload") or None,
        pod=identity.get("pod") or None,
        account=account,
        session_id=session_id,
        description=detail,
        labels={k: v for k, v in labels.items() if v},
        raw=dict(body),
    )


def _identity(dims: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, names in _DIMENSIONS.items():
        for name in names:
            value = _text(dims.get(name))
            if value:
                out[key] = value
                break
    if out.get("workload_kind"):
        out["workload_kind"] = out["workload_kind"].lower()
    # pod-level dimensions also carry objId/un_instance_id; the k8s identity is the stable one
    if out.get("workload") or out.get("pod"):
        out.pop("instance", None)
    return out


def _severity(body: Mapping[str, Any], policy: Mapping[str, Any], cond: Mapping[str, Any]) -> Severity:
    for src in (body, policy, cond):
        level = _text(src.get("alarmLevel")).lower()
        if level in _LEVELS:
            return _LEVELS[level]
    return "warning"


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise AlertValidationError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        return ""
    return str(value).strip()


def _as_int(value: Any, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is not None:
            return default
        raise AlertValidationError(f"{name} is missing")
    if isinstance(value, bool):
        raise AlertValidationError(f"{name} must be a number or numeric string, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            pass
    raise AlertValidationError(f"{name} must be a number or numeric string, got {value!r}")


def _parse_time(value: Any, name: str, zone: ZoneInfo, *, required: bool) -> datetime | None:
    if value in (None, "", "0", 0):
        if required:
            raise AlertValidationError(f"{name} is missing")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        # tolerate epoch seconds (some private-cloud variants send them)
        return datetime.fromtimestamp(float(value), tz=zone).astimezone(ZoneInfo("UTC"))
    if not isinstance(value, str):
        raise AlertValidationError(f"{name} must be 'YYYY-MM-DD HH:MM:SS', got {value!r}")
    try:
        naive = datetime.strptime(value.strip(), _TIME_FMT)
    except ValueError:
        raise AlertValidationError(f"{name} must be 'YYYY-MM-DD HH:MM:SS', got {value!r}") from None
    return naive.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))
