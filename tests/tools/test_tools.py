"""Every MCP tool with valid and invalid arguments, against a real analysed day and a real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from server.alerts.alertmanager import parse_alertmanager
from server.cases.store import StaticApprovers
from server.tools.base import Caller, ToolRegistry, trim_to_budget
from server.tools.context import ToolContext
from tests.tools.conftest import HUMAN
from tests.tools.helpers import DAY

AGENT = Caller(actor="agent", ai=True, owner="default")


async def call(registry: ToolRegistry, ctx: ToolContext, name: str, args: Any, caller: Caller = HUMAN):
    outcome = await registry.call(ctx, name, args, caller)
    assert json.loads(outcome.text) == outcome.data  # what a model sees is the (trimmed) structured result
    return outcome


def alert_body(workload: str, namespace: str, at: str) -> dict:
    return {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighErrorRate",
                    "severity": "critical",
                    "namespace": namespace,
                    "deployment": workload,
                },
                "annotations": {"summary": f"{workload} 5xx rate above 20%"},
                "startsAt": at,
            }
        ],
    }


def fire(ctx: ToolContext, incident: dict[str, Any]) -> int:
    """An Alertmanager alert on the incident's workload, 15 minutes after it began; returns the new case id."""
    at = datetime.fromtimestamp(incident["start_ts"] + 900, UTC).isoformat()
    body = alert_body(incident["workload"], incident["namespace"], at)
    report = ctx.alerts.ingest([(parse_alertmanager(body), "alertmanager", None)])
    assert report.new_cases, report
    return report.new_cases[0]


# ---------------------------------------------------------------- logs


async def test_get_log_summary(ctx, registry, day) -> None:
    out = await call(registry, ctx, "get_log_summary", {"day": DAY})
    assert out.ok
    assert day.incident("image_pull_failure")["workload"] in out.data["summary"] and out.data["day"] == DAY
    assert out.data["stats"]["business"]["lines"] > 10_000
    assert out.data["top_findings"][0]["severity"] == "critical"
    # without a day: the newest report
    assert (await call(registry, ctx, "get_log_summary", {})).data["day"] == DAY
    only_events = await call(registry, ctx, "get_log_summary", {"day": DAY, "kind": "event"})
    assert set(only_events.data["stats"]) == {"event"} and "summary" not in only_events.data


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"day": "yesterday"}, "day"),
        ({"day": DAY, "kind": "metrics"}, "kind"),
        ({"day": DAY, "colour": "red"}, "colour"),
        ({"owner": "../etc"}, "owner"),
        ([DAY], "object"),
    ],
)
async def test_get_log_summary_rejects_bad_arguments(ctx, registry, args, problem) -> None:
    out = await call(registry, ctx, "get_log_summary", args)
    assert not out.ok and "invalid arguments" in out.data["error"] and problem in out.data["error"]


async def test_missing_report_names_the_days_that_exist(ctx, registry) -> None:
    out = await call(registry, ctx, "get_log_summary", {"day": "2025-11-01"})
    assert not out.ok and "2025-11-01" in out.data["error"] and DAY in out.data["error"]
    other = await call(registry, ctx, "analyze_log_type", {"kind": "audit", "owner": "bob"})
    assert not other.ok and "no reports" in other.data["error"]


async def test_analyze_log_type(ctx, registry, day) -> None:
    bad_image = day.incident("image_pull_failure")
    out = await call(registry, ctx, "analyze_log_type", {"kind": "audit", "day": DAY})
    assert out.ok and out.data["kind"] == "audit"
    top = out.data["findings"][0]
    assert top["user"] == bad_image["user"] and top["workload"] == bad_image["workload"]
    assert top["change"]["image_tags"] == [bad_image["details"]["bad_tag"]] and top["business"]["after"] > 0
    severities = [f["severity"] for f in out.data["findings"]]
    assert severities == sorted(severities, key=["critical", "high", "medium", "low", "info"].index)
    events = await call(registry, ctx, "analyze_log_type", {"kind": "event", "limit": 3})
    oom = day.incident("oom_kill")["workload"]
    assert len(events.data["findings"]) == 3 and oom in json.dumps(events.data, ensure_ascii=False)
    bad = await call(registry, ctx, "analyze_log_type", {"day": DAY})
    assert not bad.ok and "'kind' is a required property" in bad.data["error"]
    bad = await call(registry, ctx, "analyze_log_type", {"kind": "audit", "limit": 500})
    assert not bad.ok and "limit" in bad.data["error"]


async def test_search_logs_finds_chinese_question_in_english_logs(ctx, registry, day) -> None:
    out = await call(registry, ctx, "search_logs", {"query": "镜像拉取失败", "day": DAY})
    assert out.ok and out.data["engine"] == "keyword"
    assert out.data["hits"][0]["workload"] == day.incident("image_pull_failure")["workload"]
    redis = await call(registry, ctx, "search_logs", {"query": "redis timeout", "kind": "business"})
    best = redis.data["hits"][0]
    assert "redis" in best["text"] + best.get("title", "")
    assert all(h["kind"] == "business" for h in redis.data["hits"])


async def test_search_logs_time_range(ctx, registry, day) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    oom = day.incident("oom_kill")
    workload = oom["workload"]
    start = datetime.fromtimestamp(oom["start_ts"], ZoneInfo("Asia/Shanghai"))
    everything = await call(registry, ctx, "search_logs", {"query": "内存溢出 OOM", "limit": 20})
    assert any(h.get("workload") == workload for h in everything.data["hits"])
    # a window ending before the OOM storm excludes its findings, one around its start keeps them
    until = f"{max(start.hour - 2, 0):02d}:00"
    before = await call(registry, ctx, "search_logs", {"query": "内存溢出 OOM", "until": until, "limit": 20})
    assert not any(h.get("workload") == workload and h["source"] == "finding" for h in before.data["hits"])
    since, until = f"{start.hour:02d}:00", f"{min(start.hour + 1, 23):02d}:59"
    around = await call(
        registry, ctx, "search_logs", {"query": "内存溢出 OOM", "since": since, "until": until, "limit": 20}
    )
    assert any(h.get("workload") == workload for h in around.data["hits"])


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"query": ""}, "query"),
        ({"query": "x" * 301}, "query"),
        ({"query": "oom", "since": "25:99"}, "cannot read time"),
        ({"query": "oom", "since": "18:00", "until": "08:00"}, "'since' is after 'until'"),
        ({}, "'query' is a required property"),
    ],
)
async def test_search_logs_rejects_bad_arguments(ctx, registry, args, problem) -> None:
    out = await call(registry, ctx, "search_logs", args)
    assert not out.ok and problem in out.data["error"]


async def test_correlate_logs(ctx, registry, day) -> None:
    out = await call(registry, ctx, "correlate_logs", {"day": DAY})
    assert out.ok
    chains = {(c["user"], c["workload"]) for c in out.data["chains"]}
    caused = [day.incident(t) for t in ("image_pull_failure", "insufficient_memory", "unbound_pvc")]
    assert {(i["user"], i["workload"]) for i in caused} <= chains
    assert out.data["chains"][0]["severity"] == "critical"
    oom = day.incident("oom_kill")["workload"]  # no change caused it: reported as unexplained
    assert any(f.get("workload") == oom for f in out.data["other_serious_findings"])
    bad = await call(registry, ctx, "correlate_logs", {"window_minutes": 0})
    assert not bad.ok and "window_minutes" in bad.data["error"]


# ---------------------------------------------------------------- alerts and cases


async def test_list_alerts_and_trace_alert(ctx, registry, day) -> None:
    bad_image = day.incident("image_pull_failure")
    case_id = fire(ctx, bad_image)
    out = await call(registry, ctx, "list_alerts", {"status": "firing"})
    assert out.ok and len(out.data["alerts"]) == 1
    alert = out.data["alerts"][0]
    assert alert["workload"] == bad_image["workload"] and alert["namespace"] == bad_image["namespace"]
    traced = await call(registry, ctx, "trace_alert", {"id": alert["id"]})
    assert traced.ok
    trace = traced.data["trace"]
    assert trace["day"] == DAY and trace["cause"]["user"] == bad_image["user"]
    assert trace["event"] and all(f["workload"] == bad_image["workload"] for f in trace["event"])
    assert trace["business"]
    by_group = await call(registry, ctx, "trace_alert", {"id": alert["group_id"]})
    assert (
        by_group.data["trace"]["cause"]["user"] == bad_image["user"]
        and by_group.data["group"]["case_id"] == case_id
    )
    assert not (await call(registry, ctx, "list_alerts", {"status": "open"})).ok
    missing = await call(registry, ctx, "trace_alert", {"id": "nope"})
    assert not missing.ok and "no alert" in missing.data["error"]
    assert not (await call(registry, ctx, "trace_alert", {})).ok


async def test_get_case(ctx, registry, day) -> None:
    case_id = fire(ctx, day.incident("image_pull_failure"))
    out = await call(registry, ctx, "get_case", {"id": case_id})
    assert out.ok and out.data["case"]["status"] == "NEW" and "start_analysis" in out.data["allowed_events"]
    assert out.data["timeline"]
    assert "no case" in (await call(registry, ctx, "get_case", {"id": 9999})).data["error"]
    assert "invalid arguments" in (await call(registry, ctx, "get_case", {"id": "1"})).data["error"]
    # the agent only sees its owner's cases
    other = await call(registry, ctx, "get_case", {"id": case_id}, Caller(actor="agent", owner="bob"))
    assert not other.ok


async def test_propose_action_rule_based_plan_rolls_back_the_changed_workload(ctx, registry, day) -> None:
    bad_image = day.incident("image_pull_failure")
    case_id = fire(ctx, bad_image)
    out = await call(registry, ctx, "propose_action", {"case_id": case_id}, AGENT)
    assert out.ok, out.data
    assert out.data["transition"]["to_state"] == "WAIT_GATE"
    action = out.data["plan"]["actions"][0]
    want = {
        "type": "k8s_rollout_undo",
        "namespace": bad_image["namespace"],
        "deployment": bad_image["workload"],
    }
    assert action == {**action, **want}
    assert ctx.cases.get_case(case_id).status == "WAIT_GATE"


async def test_propose_action_rejects_invalid_plan_and_leaves_case_alone(ctx, registry, day) -> None:
    case_id = fire(ctx, day.incident("image_pull_failure"))
    plan = {"summary": "delete everything", "risk": "low", "actions": [{"type": "script", "name": "rm-rf"}]}
    out = await call(registry, ctx, "propose_action", {"case_id": case_id, "plan": plan}, AGENT)
    assert not out.ok and "plan rejected" in out.data["error"]
    assert ctx.cases.get_case(case_id).status == "NEW"
    assert not (await call(registry, ctx, "propose_action", {"case_id": 0})).ok
    stale = await call(registry, ctx, "propose_action", {"case_id": case_id, "expected_version": 99})
    assert not stale.ok and "Conflict" in stale.data["error"]


class Gate:
    def __init__(self, passed: set[tuple[str, str, int]]) -> None:
        self.passed = passed

    def challenge_passed(self, challenge_id: str, approver: str, case_id: int) -> bool:
        return (challenge_id, approver, case_id) in self.passed


async def test_confirm_action_goes_through_the_fsm_guards(ctx, registry, day, services) -> None:
    from server.alerts.service import AlertService
    from server.cases.fsm import Risk
    from server.cases.service import CaseService

    db = services[0]
    ctx.cases = CaseService(db, approvers=StaticApprovers({"alice": Risk.HIGH}))
    ctx.alerts = AlertService(db, ctx.cases)
    case_id = fire(ctx, day.incident("image_pull_failure"))
    assert (await call(registry, ctx, "propose_action", {"case_id": case_id}, AGENT)).ok
    approve = {"case_id": case_id, "decision": "approve", "approver": "alice", "challenge_id": "c-1"}

    # the in-process LLM may not even try
    refused = await call(registry, ctx, "confirm_action", approve, AGENT)
    assert not refused.ok and "only propose" in refused.data["error"]
    # no spoken challenge vouched for: the FSM guard refuses
    no_gate = await call(registry, ctx, "confirm_action", approve)
    assert not no_gate.ok and "challenge" in no_gate.data["error"]
    ctx.approvals = Gate({("c-1", "alice", case_id)})
    as_ai = await call(registry, ctx, "confirm_action", {**approve, "approver": "llm"})
    assert not as_ai.ok and "AI" in as_ai.data["error"]
    no_rights = await call(registry, ctx, "confirm_action", {**approve, "approver": "mallory"})
    assert not no_rights.ok
    assert ctx.cases.get_case(case_id).status == "WAIT_GATE"

    ok = await call(registry, ctx, "confirm_action", approve)
    assert ok.ok and ok.data["transition"]["to_state"] == "EXECUTING"


async def test_confirm_action_deny_needs_a_reason(ctx, registry, day) -> None:
    case_id = fire(ctx, day.incident("image_pull_failure"))
    await call(registry, ctx, "propose_action", {"case_id": case_id}, AGENT)
    deny = {"case_id": case_id, "decision": "deny", "approver": "alice"}
    assert "reason" in (await call(registry, ctx, "confirm_action", deny)).data["error"]
    out = await call(registry, ctx, "confirm_action", {**deny, "reason": "不用回滚"})
    assert out.ok and out.data["transition"]["to_state"] == "PARKED"
    bad = await call(registry, ctx, "confirm_action", {**deny, "decision": "maybe"})
    assert not bad.ok and "decision" in bad.data["error"]


async def test_alert_and_case_tools_without_services_say_so(tmp_path, day_results, registry) -> None:
    from tests.conftest import make_settings

    bare = ToolContext.from_settings(make_settings(tmp_path, results_dir=day_results))
    for name, args in (("list_alerts", {}), ("get_case", {"id": 1}), ("propose_action", {"case_id": 1})):
        out = await call(registry, bare, name, args)
        assert not out.ok and "not available" in out.data["error"]


# ---------------------------------------------------------------- device and system


async def test_device_tools_without_a_device(ctx, registry) -> None:
    out = await call(registry, ctx, "get_device_status", {})
    assert not out.ok and "no device" in out.data["error"]
    out = await call(registry, ctx, "set_volume", {"volume": 50, "device_id": "aa:bb"})
    assert not out.ok and "not connected" in out.data["error"]
    out = await call(registry, ctx, "set_volume", {"volume": 150})
    assert not out.ok and "volume" in out.data["error"]


async def test_system_health(ctx, registry, day) -> None:
    fire(ctx, day.incident("image_pull_failure"))
    out = await call(registry, ctx, "system_health", {})
    assert out.ok and out.data["status"] == "ok"
    assert out.data["reports"]["latest_day"] == DAY
    assert out.data["firing_alerts"] == 1 and out.data["open_cases"] == 1
    assert not (await call(registry, ctx, "system_health", {"verbose": True})).ok


# ---------------------------------------------------------------- budget


def test_trim_keeps_the_head_of_long_lists_and_says_what_it_dropped() -> None:
    value = {"hits": [{"text": f"第{i}条 " + "x" * 100} for i in range(100)], "day": DAY}
    trimmed, truncated = trim_to_budget(json.loads(json.dumps(value)), 500)
    assert truncated and trimmed["day"] == DAY
    assert trimmed["hits"][0]["text"].startswith("第0条") and len(trimmed["hits"]) < 100
    assert trimmed["_truncated"]["omitted_items"]["hits"] == 100 - len(trimmed["hits"])
    small, t2 = trim_to_budget({"a": 1}, 500)
    assert small == {"a": 1} and not t2


async def test_registry_trims_tool_output_to_its_budget(ctx) -> None:
    from server.tools.toolsets import build_registry

    tight = build_registry(budget_tokens=300)
    out = await tight.call(ctx, "analyze_log_type", {"kind": "event", "limit": 20})
    assert out.ok and out.truncated and "_truncated" in out.data
    roomy = await build_registry().call(ctx, "analyze_log_type", {"kind": "event", "limit": 20})
    assert len(out.text) < len(roomy.text)


async def test_a_tool_crash_is_a_tool_error_not_a_server_error(ctx, registry, monkeypatch) -> None:
    def boom(owner: str, day: str) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ctx.reports, "findings", boom)
    out = await call(registry, ctx, "correlate_logs", {"day": DAY})
    assert not out.ok and out.data["error"] == "internal error in correlate_logs: RuntimeError"
