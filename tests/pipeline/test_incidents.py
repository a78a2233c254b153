"""Every injected incident must be found (findings.json) and spoken (llm_summary.txt), checked against ground truth."""

from __future__ import annotations

import json
import re

from agents.analyst.deterministic import FOLLOW_UP, MAX_SUMMARY_CHARS, speech_seconds
from tests.pipeline.conftest import DayRun, incident


def _findings(run: DayRun) -> list[dict]:
    return json.loads(run.findings_json)["findings"]


NUMERALS = "一二三四五六七八九十"


def _spoken_items(summary: str) -> list[str]:
    return re.findall(r"[一二三四五六七八九十]、", summary)


def test_every_incident_is_in_findings_and_summary(day_run: DayRun) -> None:
    """Every injected incident is in findings.json; the summary speaks the incidents in rank order, each with its
    workload, and says how many it left for the report (issue 11: ≤ 45 s even on a day with 7 incidents)."""
    incidents = json.loads(day_run.findings_json)["incidents"]
    for inc in day_run.ground_truth["incidents"]:
        for text in inc["must_mention"]:
            assert text in day_run.findings_json, (inc["type"], text)
    spoken = [i for i in incidents if f"{i['workload']}" in day_run.summary]
    assert len(spoken) >= 4, day_run.summary
    labels = _spoken_items(day_run.summary)
    assert labels == [f"{NUMERALS[n]}、" for n in range(len(labels))]  # consecutive numbering, no gap
    left = len(incidents) - len(labels)
    assert (f"另有 {left} 个问题" in day_run.summary) == (left > 0)
    # the top incidents are spoken with their cause (the bad image's tag, the missing storage class)
    bad = incident(day_run, "image_pull_failure")
    assert bad["details"]["bad_tag"] in day_run.summary
    assert incident(day_run, "unbound_pvc")["details"]["storage_class"] in day_run.summary


def test_summary_is_speakable_in_45_seconds(day_run: DayRun) -> None:
    s = day_run.summary.strip()
    assert len(s) <= MAX_SUMMARY_CHARS
    assert speech_seconds(s) <= 45
    assert s.endswith(FOLLOW_UP)
    for marker in ("#", "*", "`", "|", "```", "\n", "system:serviceaccount"):
        assert marker not in s
    assert not re.search(
        r"-[bcdfghjklmnpqrstvwxz2456789]{8,10}-[bcdfghjklmnpqrstvwxz2456789]{5}\b", s
    )  # pod names


def test_bad_image_rollout_is_traced_from_audit_to_events_to_business(day_run: DayRun) -> None:
    inc = incident(day_run, "image_pull_failure")
    links = [
        f
        for f in _findings(day_run)
        if f["category"] == "change_before_errors" and f["workload"] == inc["workload"]
    ]
    bad = [f for f in links if inc["details"]["bad_tag"] in f["evidence"]["change"].get("image_tags", [])]
    assert bad, links
    f = bad[0]
    assert f["user"] == inc["user"]
    assert f["evidence"]["change"]["old_images"]  # old image known from the earlier CI rollout
    assert inc["details"]["old_image"] in f["evidence"]["change"]["old_images"].values()
    assert f["evidence"]["events"]["linked"] and "image_pull" in f["evidence"]["events"]["classes"]
    assert f["evidence"]["business"]["linked"]
    assert f["evidence"]["change"]["reverted_by"] == inc["details"]["rollback_user"]
    pulls = [x for x in _findings(day_run) if x["evidence"].get("class") == "image_pull"]
    assert pulls[0]["workload"] == inc["workload"]
    assert inc["details"]["bad_image"] in pulls[0]["evidence"]["images"]
    assert {"Failed", "BackOff"} <= set(pulls[0]["evidence"]["reasons"])


def test_oom_kills_are_attributed_to_the_workload(day_run: DayRun) -> None:
    inc = incident(day_run, "oom_kill")
    f = next(x for x in _findings(day_run) if x["evidence"].get("class") == "oom_kill")
    assert f["workload"] == inc["workload"]
    assert f["evidence"]["oom_kills"] > 0 and f["severity"] == "critical"
    assert inc["details"]["node"] in f["evidence"]["hosts"]


def test_scheduling_storage_and_hpa_classes(day_run: DayRun) -> None:
    by_class = {}
    for f in _findings(day_run):
        by_class.setdefault(f["evidence"].get("class"), []).append(f)
    mem = incident(day_run, "insufficient_memory")
    assert mem["workload"] in {f["workload"] for f in by_class["insufficient_resources"]}
    assert "memory" in by_class["insufficient_resources"][0]["evidence"]["resources"]
    pvc = incident(day_run, "unbound_pvc")
    vol = next(f for f in by_class["unbound_pvc"] if f["workload"] == pvc["workload"])
    assert vol["evidence"]["storage_classes"] == [pvc["details"]["storage_class"]]
    assert {"ProvisioningFailed", "FailedScheduling", "FailedMount"} <= set(vol["evidence"]["reasons"])
    hpa = incident(day_run, "hpa_metrics")
    assert hpa["workload"] in {f["workload"] for f in by_class["hpa_metrics"]}
    # a routine Unhealthy probe here and there is not reported as a problem
    assert all(
        f["severity"] == "low" for f in by_class.get("probe_failure", []) if f["namespace"] != "kube-system"
    )


def test_configmap_change_and_rbac_escalation(day_run: DayRun) -> None:
    cm = incident(day_run, "configmap_change")
    link = next(
        f
        for f in _findings(day_run)
        if f["category"] == "change_before_errors" and f["workload"] == cm["workload"]
    )
    assert link["user"] == cm["user"] and link["evidence"]["change"]["name"] == cm["details"]["configmap"]
    assert link["evidence"]["business"]["linked"]
    rb = incident(day_run, "rbac_escalation")
    rbac = next(f for f in _findings(day_run) if f["evidence"].get("risk") == "rbac")
    assert rbac["user"] == rb["user"] and rbac["severity"] == "critical"
    assert rbac["evidence"]["role"] == "cluster-admin" and rbac["evidence"]["unusual_user"]
    assert rbac["evidence"]["secret_reads"]


def test_routine_ci_rollouts_are_not_blamed(day_run: DayRun) -> None:
    for f in _findings(day_run):
        if f["category"] == "change_before_errors":
            assert f["user"] != "ci-bot", f["title"]


def test_cos_layout_gives_the_same_incidents(cos_run: DayRun) -> None:
    assert cos_run.result.lines == cos_run.ground_truth["generated_lines"]
    assert not cos_run.result.kind_errors
    incidents = json.loads(cos_run.findings_json)["incidents"]
    assert len(incidents) >= 4 and all(i["workload"] for i in incidents)
    for inc in cos_run.ground_truth["incidents"]:
        for text in inc["must_mention"]:
            assert text in cos_run.findings_json, (inc["type"], text)
