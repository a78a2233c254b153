"""Parsing of every webhook body variant into the one Alert shape."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from server.alerts.alertmanager import parse_alertmanager
from server.alerts.models import AlertValidationError
from server.alerts.tencent import is_probe, parse_tencent
from tests.alerts.bodies import (
    TENCENT_EVENT,
    TENCENT_METRIC,
    TENCENT_RECOVERED_REAL,
    alertmanager_v4,
    am_alert,
    tencent_event_real,
    tke_pod_alarm,
)


def test_metric_alarm_doc_sample() -> None:
    a = parse_tencent(TENCENT_METRIC)
    assert a.source == "tencent" and a.status == "firing"
    assert a.session_id == "xxxxxxxx"
    assert a.policy == "policy-n4exeh88"
    assert a.account == "1250000000"  # appId routes the alert to an owner
    assert a.resource == "ins-o9p3rg3m"
    # naive Beijing time -> aware UTC
    assert a.starts_at == datetime(2017, 3, 8, 23, 0, tzinfo=UTC)
    assert a.ends_at is None
    assert "CPU 利用率" in a.title and ">90%" in a.title and "100" in a.title


def test_recovered_real_callback_has_end_time() -> None:
    a = parse_tencent(TENCENT_RECOVERED_REAL)
    assert a.status == "resolved"
    assert a.account is None
    assert a.ends_at == datetime(2021, 5, 6, 0, 46, tzinfo=UTC)
    assert a.resource == "ins-4ap7abk6"


def test_event_alarm_doc_and_real_variant() -> None:
    doc = parse_tencent(TENCENT_EVENT)
    real = parse_tencent(tencent_event_real())
    for a in (doc, real):
        assert a.status == "firing" and a.labels["alarm_type"] == "event"
        assert "ping不可达" in a.title
        assert a.resource == "ins-pftdvqa2"
    assert real.labels["extra_alias"] == "Unnamed33"
    assert doc.fingerprint == real.fingerprint  # same policy, event and instance


def test_string_and_number_fields_parse_the_same() -> None:
    as_strings = parse_tencent(tke_pod_alarm("s1", status="1", numbers_as_strings=True))
    as_numbers = parse_tencent(tke_pod_alarm("s2", status=1, numbers_as_strings=False))
    assert as_strings.fingerprint == as_numbers.fingerprint
    assert as_strings.status == as_numbers.status == "firing"
    resolved = parse_tencent(tke_pod_alarm("s3", status=0, recover="2026-11-20 10:05:00"))
    assert resolved.status == "resolved"
    assert resolved.fingerprint == as_strings.fingerprint  # recovery matches its firing alert
    assert resolved.ends_at == datetime(2026, 11, 20, 2, 5, tzinfo=UTC)


def test_tke_dimensions_give_kubernetes_identity() -> None:
    a = parse_tencent(tke_pod_alarm("s1", pod="api-1", workload="api", namespace="prod"))
    assert (a.namespace, a.workload, a.pod) == ("prod", "api", "api-1")
    assert a.resource == "prod/deployment/api/api-1"
    b = parse_tencent(tke_pod_alarm("s2", pod="api-2"))
    assert a.fingerprint != b.fingerprint  # different pods are different alerts ...
    assert a.group_key == b.group_key  # ... of the same workload
    other_ns = parse_tencent(tke_pod_alarm("s3", pod="api-1", namespace="staging"))
    assert other_ns.group_key != a.group_key


def test_timezone_is_configurable() -> None:
    a = parse_tencent(TENCENT_METRIC, tz="UTC")
    assert a.starts_at == datetime(2017, 3, 9, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.update(alarmStatus="2"), "alarmStatus"),
        (lambda b: b.update(alarmStatus="yes"), "alarmStatus"),
        (lambda b: b.pop("sessionId"), "sessionId"),
        (lambda b: b.update(alarmObjInfo="gz"), "alarmObjInfo"),
        (lambda b: b.update(alarmType="log"), "alarmType"),
        (lambda b: b.update(firstOccurTime="09/03/2017"), "firstOccurTime"),
        (lambda b: b.update(durationTime="long"), "durationTime"),
        (lambda b: b["alarmPolicyInfo"]["conditions"].pop("metricName"), "metricName"),
    ],
)
def test_malformed_tencent_bodies_name_the_field(mutate, message: str) -> None:
    body = copy.deepcopy(TENCENT_METRIC)
    mutate(body)
    with pytest.raises(AlertValidationError, match=message):
        parse_tencent(body)


def test_probe_detection() -> None:
    assert is_probe({"sessionId": "check"})
    assert not is_probe(TENCENT_METRIC)


def test_alertmanager_v4() -> None:
    body = alertmanager_v4([am_alert("api-1"), am_alert("api-2", "resolved")])
    firing, resolved = parse_alertmanager(body)
    assert firing.source == "alertmanager" and firing.status == "firing"
    assert firing.severity == "critical"
    assert firing.policy == "KubePodCrashLooping"
    assert (firing.namespace, firing.workload, firing.pod) == ("prod", "api", "api-1")
    assert firing.starts_at == datetime(2026, 11, 20, 2, 0, 0, 123456, tzinfo=UTC)
    assert firing.ends_at is None  # Go zero time = unset
    assert firing.labels["am_fingerprint"] == "c3b5e1f0a1b2c3d4"
    assert firing.account == "1250000000"
    assert resolved.status == "resolved" and resolved.ends_at == datetime(2026, 11, 20, 2, 30, tzinfo=UTC)
    assert firing.group_key == resolved.group_key


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"version": "3", "alerts": [am_alert("p")]}, "version"),
        ({"version": "4", "alerts": []}, "non-empty"),
        (alertmanager_v4([{**am_alert("p"), "status": "pending"}]), r"alerts\[0\].status"),
        (alertmanager_v4([{**am_alert("p"), "startsAt": "yesterday"}]), "startsAt"),
        (alertmanager_v4([{**am_alert("p"), "labels": {"severity": "critical"}}]), "alertname"),
    ],
)
def test_malformed_alertmanager(body, message: str) -> None:
    if isinstance(body, dict) and body.get("alerts") and "commonLabels" in body:
        body = {**body, "commonLabels": {}}  # so a missing alertname is not filled from the common labels
    with pytest.raises(AlertValidationError, match=message):
        parse_alertmanager(body)
