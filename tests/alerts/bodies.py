"""Webhook bodies as the senders produce them (Tencent samples from the TCOP docs and a captured real callback)."""

from __future__ import annotations

import copy
from typing import Any

# TCOP doc sample, metric alarm (string numbers; durationTime int; alarmNotifyPeriod int)
TENCENT_METRIC: dict[str, Any] = {
    "sessionId": "xxxxxxxx",
    "alarmStatus": "1",
    "alarmType": "metric",
    "alarmObjInfo": {
        "region": "gz",
        "namespace": "qce/cvm",
        "appId": "1250000000",
        "uin": "100000000001",
        "dimensions": {
            "unInstanceId": "ins-o9p3rg3m",
            "objId": "xxxxxxxxxxxx",
            "objName": "172.21.30.15#588789",
        },
    },
    "alarmPolicyInfo": {
        "policyId": "policy-n4exeh88",
        "policyType": "cvm_device",
        "policyName": "test",
        "policyTypeCName": "云服务器-基础监控",
        "conditions": {
            "metricName": "cpu_usage",
            "metricShowName": "CPU 利用率",
            "calcType": ">",
            "calcValue": "90",
            "calcUnit": "%",
            "currentValue": "100",
            "historyValue": "5",
            "unit": "%",
            "period": "60",
            "periodNum": "1",
            "alarmNotifyType": "continuousAlarm",
            "alarmNotifyPeriod": 300,
        },
    },
    "firstOccurTime": "2017-03-09 07:00:00",
    "durationTime": 500,
    "recoverTime": "0",
}

# captured real recovered metric alarm (hhthuongbtr/tulc-10xu main.go): numeric alarmNotifyPeriod, no appId
TENCENT_RECOVERED_REAL: dict[str, Any] = {
    "sessionId": "GM9LWZPzIQEx62OzrpixQ056",
    "alarmStatus": "0",
    "alarmType": "metric",
    "alarmObjInfo": {
        "region": "hk",
        "namespace": "qce/cvm",
        "dimensions": {
            "deviceName": "Unnamed1",
            "objId": "dc2df8c0-e7a8-4f03-ac06-94fb93a427d5",
            "objName": "172.19.0.34#3552563",
            "unInstanceId": "ins-4ap7abk6",
        },
    },
    "alarmPolicyInfo": {
        "policyId": "policy-9dz6qbwy",
        "policyType": "cvm_device",
        "policyName": "AlarmForTetHoliday",
        "policyTypeCName": "",
        "policyTypeEname": "Cloud Virtual Machine",
        "conditions": {
            "metricName": "disk_usage",
            "metricShowName": "DiskUtilization ",
            "calcType": ">",
            "calcValue": "95",
            "currentValue": "26.14",
            "unit": "%",
            "period": "60",
            "periodNum": "5",
            "alarmNotifyType": "singleAlarm",
            "alarmNotifyPeriod": 5,
        },
    },
    "firstOccurTime": "2021-05-05 04:37:00",
    "durationTime": 101340,
    "recoverTime": "2021-05-06 08:46:00",
}

# TCOP doc sample, event alarm (no namespace, no durationTime, alarmNotifyPeriod string)
TENCENT_EVENT: dict[str, Any] = {
    "sessionId": "vuRH4ZlxBJSMNJHvNZhls9HY",
    "alarmStatus": "1",
    "alarmType": "event",
    "alarmObjInfo": {
        "region": "gz",
        "dimensions": {
            "unInstanceId": "ins-pftdvqa2",
            "objDetail": {
                "deviceLanIp": "172.21.0.17",
                "deviceWanIp": "118.89.233.99",
                "uniqVpcId": "vpc-ilrwkcbw",
            },
        },
    },
    "alarmPolicyInfo": {
        "policyId": "policy-n4exeh88",
        "policyType": "cvm_device",
        "policyName": "teset",
        "conditions": {
            "productName": "cvm",
            "productShowName": "云服务器",
            "eventName": "ping_unreachable",
            "eventShowName": "ping不可达",
            "alarmNotifyType": "singleAlarm",
            "alarmNotifyPeriod": "0",
        },
        "policyTypeCName": "云服务器-基础监控",
    },
    "firstOccurTime": "2018-06-15 16:32:06",
    "recoverTime": "0",
}


def tencent_event_real() -> dict[str, Any]:
    """The real event variant: additionalMsg list and a numeric durationTime 0."""
    body = copy.deepcopy(TENCENT_EVENT)
    body["sessionId"] = "evt-real-0001"
    body["durationTime"] = 0
    body["additionalMsg"] = [{"key": "ip", "value": "172.21.0.17"}, {"key": "alias", "value": "Unnamed33"}]
    return body


def tke_pod_alarm(
    session_id: str,
    *,
    pod: str = "api-7d9f-abcde",
    workload: str = "api",
    namespace: str = "prod",
    status: str | int = "1",
    metric: str = "k8s_pod_restart_total",
    numbers_as_strings: bool = True,
    first: str = "2026-11-20 10:00:00",
    recover: str = "0",
) -> dict[str, Any]:
    """A TKE metric-v2.0 pod alarm with the documented container/pod dimensions."""
    n = (lambda v: str(v)) if numbers_as_strings else (lambda v: v)
    return {
        "sessionId": session_id,
        "alarmStatus": status,
        "alarmType": "metric",
        "alarmObjInfo": {
            "region": "gz",
            "namespace": "qce/tke2",
            "appId": "1250000000",
            "uin": "100000000001",
            "dimensions": {
                "objId": f"obj-{pod}",
                "objName": pod,
                "region": "gz",
                "container_id": "c0ffee",
                "container_name": workload,
                "namespace": namespace,
                "node": "10.0.0.8",
                "node_role": "Node",
                "pod_name": pod,
                "tke_cluster_instance_id": "cls-abc123",
                "un_instance_id": "ins-node1",
                "workload_kind": "Deployment",
                "workload_name": workload,
            },
        },
        "alarmPolicyInfo": {
            "policyId": "policy-tke0001",
            "policyType": "tke2",
            "policyName": "pod restarts",
            "policyTypeCName": "容器服务",
            "conditions": {
                "metricName": metric,
                "metricShowName": "Pod 重启次数",
                "calcType": ">",
                "calcValue": n(3),
                "currentValue": n(7),
                "unit": "次",
                "period": n(60),
                "periodNum": n(1),
                "alarmNotifyType": "continuousAlarm",
                "alarmNotifyPeriod": n(300),
            },
        },
        "firstOccurTime": first,
        "durationTime": n(120),
        "recoverTime": recover,
    }


def alertmanager_v4(alerts: list[dict[str, Any]], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="KubePodCrashLooping"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "xiaozhi-ops",
        "groupLabels": {"alertname": "KubePodCrashLooping"},
        "commonLabels": {"alertname": "KubePodCrashLooping", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


def am_alert(
    pod: str, status: str = "firing", *, namespace: str = "prod", deployment: str = "api"
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "KubePodCrashLooping",
            "severity": "critical",
            "namespace": namespace,
            "pod": pod,
            "deployment": deployment,
            "container": deployment,
            "account": "1250000000",
        },
        "annotations": {
            "summary": f"Pod {namespace}/{pod} is crash looping",
            "description": "restarts > 3 in 10m",
        },
        "startsAt": "2026-11-20T02:00:00.123456789Z",
        "endsAt": "2026-11-20T02:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
        "fingerprint": "c3b5e1f0a1b2c3d4",
    }
