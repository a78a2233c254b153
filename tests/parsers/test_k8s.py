"""Kubernetes Events (core/v1, events.k8s.io/v1, flat keys, lists) and audit.k8s.io/v1 events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from agents.parsers import ParseStats, audit_from_obj, event_from_obj, parse_line, parse_stream
from agents.records import LogKind

T0 = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC).timestamp()

CORE_EVENT = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "order-api-7d9f8c6b5-x2x9k.17d8a", "namespace": "shop"},
    "involvedObject": {
        "kind": "Pod",
        "namespace": "shop",
        "name": "order-api-7d9f8c6b5-x2x9k",
        "fieldPath": "spec.containers{app}",
    },
    "reason": "BackOff",
    "message": "Back-off restarting failed container app in pod order-api-7d9f8c6b5-x2x9k",
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": "2024-06-01T11:00:00Z",
    "lastTimestamp": "2024-06-01T12:00:00Z",
    "count": 23,
    "type": "Warning",
    "eventTime": None,
}


def test_core_v1_warning_event() -> None:
    rec = event_from_obj(CORE_EVENT, raw="r")
    assert rec is not None
    assert rec.kind is LogKind.EVENT and rec.level == "WARN" and rec.ts == T0
    assert rec.message == "BackOff: Back-off restarting failed container app in pod order-api-7d9f8c6b5-x2x9k"
    assert (rec.namespace, rec.workload, rec.pod, rec.object) == (
        "shop",
        "order-api",
        "order-api-7d9f8c6b5-x2x9k",
        "Pod/order-api-7d9f8c6b5-x2x9k",
    )
    assert rec.fields["reason"] == "BackOff" and rec.fields["count"] == 23
    assert rec.fields["component"] == "kubelet" and rec.fields["host"] == "node-1"
    assert rec.fields["first_ts"] == T0 - 3600


def test_events_k8s_io_v1_with_regarding_and_note() -> None:
    obj = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "x", "namespace": "shop"},
        "eventTime": "2024-06-01T12:00:00.000000Z",
        "series": {"count": 4, "lastObservedTime": "2024-06-01T12:05:00.000000Z"},
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-node-1",
        "action": "Scheduling",
        "reason": "FailedScheduling",
        "regarding": {"kind": "Pod", "namespace": "shop", "name": "redis-0"},
        "note": "0/3 nodes are available: 3 Insufficient memory.",
        "type": "Warning",
        "deprecatedCount": 0,
    }
    rec = event_from_obj(obj, raw="")
    assert rec is not None
    assert rec.ts == T0 + 300  # the latest observation of the series
    assert rec.message == "FailedScheduling: 0/3 nodes are available: 3 Insufficient memory."
    assert (rec.workload, rec.pod, rec.fields["component"], rec.fields["count"]) == (
        "redis",
        "redis-0",
        "default-scheduler",
        4,
    )


def test_normal_events_are_info_and_controllers_name_the_workload() -> None:
    obj = {
        "involvedObject": {"kind": "ReplicaSet", "namespace": "shop", "name": "order-api-7d9f8c6b5"},
        "reason": "SuccessfulCreate",
        "message": "Created pod: order-api-7d9f8c6b5-x2x9k",
        "type": "Normal",
        "lastTimestamp": "2024-06-01T12:00:00Z",
    }
    rec = event_from_obj(obj, raw="")
    assert rec is not None and rec.level == "INFO" and rec.workload == "order-api" and rec.pod == ""
    dep = event_from_obj({**obj, "involvedObject": {"kind": "Deployment", "name": "order-api"}}, raw="")
    assert dep is not None and dep.workload == "order-api" and dep.object == "Deployment/order-api"


def test_dotted_flat_keys_and_cls_wrapping() -> None:
    flat = {
        "__TIMESTAMP__": "1717243200000",
        "__TAG__.cluster_id": "cls-abc",
        "involvedObject.kind": "Pod",
        "involvedObject.name": "web-6d4cf56db6-9xk2p",
        "involvedObject.namespace": "shop",
        "reason": "Unhealthy",
        "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
        "type": "Warning",
    }
    got = parse_line(LogKind.EVENT, json.dumps(flat))
    assert got is not None and len(got) == 1
    rec = got[0]
    assert rec.ts == T0  # no event time of its own: CLS delivery time
    assert (rec.object, rec.workload, rec.level) == ("Pod/web-6d4cf56db6-9xk2p", "web", "WARN")


def test_event_list_yields_every_item() -> None:
    items = [dict(CORE_EVENT, reason=f"R{i}") for i in range(3)]
    stream = parse_stream(
        LogKind.EVENT, [json.dumps({"kind": "EventList", "apiVersion": "v1", "items": items})]
    )
    recs = list(stream)
    assert [r.fields["reason"] for r in recs] == ["R0", "R1", "R2"]
    assert stream.stats.records == 3 and stream.stats.bad == 0


def test_pretty_printed_kubectl_document_is_read_whole() -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [CORE_EVENT, CORE_EVENT]}, indent=2)
    stream = parse_stream(LogKind.EVENT, text.splitlines(keepends=True))
    assert len(list(stream)) == 2
    assert stream.stats.bad == 0 and stream.stats.lines == len(text.splitlines())


def test_non_events_in_an_event_stream_are_counted_not_raised() -> None:
    stats = ParseStats()
    lines = [json.dumps(CORE_EVENT), '{"hello": "world"}', "plain text", "[1, 2]", "null", "{oops"]
    recs = list(parse_stream(LogKind.EVENT, lines, stats=stats))
    assert len(recs) == 1
    assert stats.bad == 5 and [s.line_no for s in stats.samples] == [2, 3, 4, 5, 6]
    assert len(stats.samples) == 5


def audit(**over: object) -> dict:
    base = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "6b1c2f1e-1d1a-4d0c-9f5b-1c2d3e4f5a6b",
        "stage": "ResponseComplete",
        "requestURI": "/apis/apps/v1/namespaces/shop/deployments/order-api",
        "verb": "update",
        "user": {"username": "alice", "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.8"],
        "userAgent": "kubectl/v1.29.0",
        "objectRef": {
            "resource": "deployments",
            "namespace": "shop",
            "name": "order-api",
            "apiGroup": "apps",
            "apiVersion": "v1",
        },
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2024-06-01T12:00:00.000000Z",
        "stageTimestamp": "2024-06-01T12:00:00.250000Z",
        "annotations": {
            "authorization.k8s.io/decision": "allow",
            "authorization.k8s.io/reason": "RBAC: allowed",
        },
    }
    base.update(over)
    return base


def test_audit_update_summary() -> None:
    rec = audit_from_obj(audit(), raw="r")
    assert rec is not None
    assert rec.message == "update deployments shop/order-api by alice (200)"
    assert (rec.level, rec.user, rec.namespace, rec.workload, rec.object, rec.ts) == (
        "INFO",
        "alice",
        "shop",
        "order-api",
        "deployments/order-api",
        T0,
    )
    assert (
        rec.fields["verb"] == "update" and rec.fields["code"] == 200 and rec.fields["stage_ts"] == T0 + 0.25
    )
    assert rec.fields["api_group"] == "apps" and rec.fields["source_ips"] == ["10.0.0.8"]


@pytest.mark.parametrize(
    ("over", "level"),
    [
        ({"responseStatus": {"code": 403, "reason": "Forbidden"}}, "WARN"),
        (
            {"annotations": {"authorization.k8s.io/decision": "forbid"}, "responseStatus": {"code": 403}},
            "WARN",
        ),
        ({"responseStatus": {"code": 401}}, "WARN"),
        ({"responseStatus": {"code": 503}}, "ERROR"),
        ({"stage": "Panic", "responseStatus": {"code": 0}}, "ERROR"),
        ({"responseStatus": {"code": 201}}, "INFO"),
    ],
)
def test_audit_levels(over: dict, level: str) -> None:
    rec = audit_from_obj(audit(**over), raw="")
    assert rec is not None and rec.level == level


def test_audit_subresource_pod_exec_and_non_resource_urls() -> None:
    exec_rec = audit_from_obj(
        audit(
            verb="create",
            user={"username": "bob"},
            objectRef={
                "resource": "pods",
                "subresource": "exec",
                "namespace": "shop",
                "name": "web-6d4cf56db6-9xk2p",
            },
            responseStatus={"code": 101},
        ),
        raw="",
    )
    assert exec_rec is not None
    assert exec_rec.message == "create pods/exec shop/web-6d4cf56db6-9xk2p by bob (101)"
    assert (exec_rec.pod, exec_rec.workload) == ("web-6d4cf56db6-9xk2p", "web")
    healthz = audit_from_obj(
        {
            "auditID": "x",
            "verb": "get",
            "requestURI": "/healthz",
            "user": {"username": "system:anonymous"},
            "responseStatus": {"code": 200},
            "requestReceivedTimestamp": "2024-06-01T12:00:00Z",
        },
        raw="",
    )
    assert healthz is not None and healthz.message == "get /healthz by system:anonymous (200)"


def test_audit_wrappers_aks_and_webhook_batches() -> None:
    aks = {"category": "kube-audit", "properties": {"log": json.dumps(audit()), "pod": "kube-apiserver-1"}}
    got = parse_line(LogKind.AUDIT, json.dumps(aks))
    assert got is not None and got[0].message == "update deployments shop/order-api by alice (200)"
    batch = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [audit(), audit(verb="delete")]}
    stream = parse_stream(LogKind.AUDIT, [json.dumps(batch)])
    assert [r.fields["verb"] for r in stream] == ["update", "delete"]


def test_non_audit_json_is_rejected() -> None:
    assert audit_from_obj({"msg": "hello"}, raw="") is None
    assert event_from_obj({"msg": "hello"}, raw="") is None
