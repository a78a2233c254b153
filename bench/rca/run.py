"""Root-cause evaluation harness: scenario day → nightly pipeline → alarms → tracer → plan, scored per failure class.

    python -m bench.rca                 # dev half (tune here)
    python -m bench.rca --split test    # the held-out half (report only, never tune on it)
    python -m bench.rca --seeds 4 6     # a few scenarios, with the spoken texts printed

Scores per incident: recall in findings; cause named in the spoken summary; alarm → cause named by the tracer;
plan targets the causal object (and never acts on an innocent one); false all-clear; spoken length of the summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.rca import scenarios
from bench.rca.scenarios import CLASSES, N_SCENARIOS, Incident, Scenario, build, split_of

ALL_CLEAR = ("没有发现明显异常", "没有报错", "一切正常", "没有异常", "no errors")
MAX_SPEECH_S = 45.0
RESULTS = Path(__file__).resolve().parents[1] / "results"


@dataclass
class IncidentScore:
    seed: int
    cls: str
    primary: bool
    recall: bool
    summary_cause: bool
    tracer_cause: bool
    plan_ok: bool
    tracer_all_clear: bool
    tracer_text: str = ""
    plan_text: str = ""


@dataclass
class ScenarioScore:
    seed: int
    split: str
    cls: str
    noise: str
    shapes: dict[str, str]
    summary: str
    speech_s: float
    summary_all_clear: bool
    pipeline_no_logs_flagged: bool
    seconds: float
    incidents: list[IncidentScore] = field(default_factory=list)


def _terms_hit(text: str, alternatives: tuple[tuple[str, ...], ...]) -> bool:
    low = text.lower()
    return any(all(t.lower() in low for t in alt) for alt in alternatives)


def _write_logs(sc: Scenario, root: Path) -> None:
    for kind, lines in sc.lines.items():
        d = root / sc.owner / sc.day / kind
        d.mkdir(parents=True, exist_ok=True)
        (d / "part-000.log").write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")


def _plan_view(trace: Any) -> tuple[str, str, str]:
    """(action, target, text) of the plan the case service would get from this trace."""
    from server.cases import plans

    try:
        if hasattr(plans, "plan_from_trace"):
            plan = plans.plan_from_trace(trace)
        else:  # the tracer before issue 11 (baseline)
            plan = plans.deterministic_plan(**trace.plan_args())
    except plans.PlanError as exc:
        return "invalid", "", str(exc)
    text = f"{plan.summary} {plan.rationale}"
    for a in plan.actions:
        if a.type == "k8s_rollout_undo":
            return "rollback", f"deployments/{a.deployment}", text + (f" image={a.image}" if a.image else "")
        if a.type == "k8s_restore_config":
            return "restore", f"{a.resource}/{a.name}", text
    return "manual", "", text


def _plan_ok(inc: Incident, action: str, target: str, text: str) -> bool:
    t = inc.truth
    if t.undo == "no_logs":
        return action == "manual"
    if t.undo in ("rollback_image", "rollback_revision"):
        return action == "rollback" and target == t.undo_target
    if t.undo == "restore_config":
        return action == "restore" and target == t.undo_target
    # manual: nothing is acted on, and the manual fix is about the causal object
    name = t.cause_object.rsplit("/", 1)[-1]
    return action == "manual" and name.lower() in text.lower()


def _trace_incident(inc: Incident, sc: Scenario, state: Path) -> tuple[Any, str]:
    from agents.evidence import StoreSet
    from agents.tracer import AFTER_S, BEFORE_S, AlertKeys, trace

    a = inc.alarm
    keys = AlertKeys.build(a.at, namespace=a.namespace, workload=a.workload, pod=a.pod, title=a.title,
                           labels={"policy": a.policy})  # fmt: skip
    stores = StoreSet.for_window(state, sc.owner, keys.at - BEFORE_S, keys.at + AFTER_S, "Asia/Shanghai")
    try:
        result = trace(keys, stores, timezone="Asia/Shanghai")
    finally:
        stores.close()
    text = f"{result.root_cause_zh} {result.root_cause_en} {result.fix_zh}"
    return result, text


def run_scenario(sc: Scenario, verbose: bool = False) -> ScenarioScore:
    from agents.analyst.deterministic import speech_seconds
    from agents.pipeline import PipelineConfig, run
    from agents.sources.local import LocalSource

    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"rca{sc.seed}-") as tmp:
        root = Path(tmp)
        logs, state, results = root / "logs", root / "state", root / "results"
        logs.mkdir()
        _write_logs(sc, logs)
        cfg = PipelineConfig(results_dir=results, state_dir=state)
        result = run(sc.owner, sc.day, LocalSource(logs, sc.owner), cfg)
        summary = result.analysis.summary
        findings = result.report.findings
        no_logs_flagged = bool(getattr(result, "no_logs", False))
        scores = []
        for i, inc in enumerate(sc.incidents):
            tr = inc.truth
            recall = any(
                f.workload == tr.workload or tr.workload in f.title
                or (tr.cause_object and tr.cause_object.rsplit("/", 1)[-1] in f"{f.object} {f.title}")
                for f in findings
            ) if tr.cls != "no_logs" else True  # fmt: skip
            trace, ttext = _trace_incident(inc, sc, state)
            if tr.cls == "no_logs":
                tracer_cause = _terms_hit(trace.root_cause_zh, tr.cause_terms)
            else:
                name = tr.cause_object.rsplit("/", 1)[-1]
                tracer_cause = (
                    bool(trace.found) and _terms_hit(ttext, tr.cause_terms) and name.lower() in ttext.lower()
                )
            action, target, ptext = _plan_view(trace)
            scores.append(IncidentScore(
                sc.seed, tr.cls, i == 0, recall, _terms_hit(summary, tr.cause_terms), tracer_cause,
                _plan_ok(inc, action, target, ptext), any(p in trace.root_cause_zh for p in ALL_CLEAR),
                ttext[:400], f"{action} {target} | {ptext[:200]}",
            ))  # fmt: skip
    out = ScenarioScore(sc.seed, sc.split, sc.cls, sc.noise, sc.shapes, summary, speech_seconds(summary),
                        any(p in summary for p in ALL_CLEAR), no_logs_flagged, round(time.perf_counter() - t, 2),
                        scores)  # fmt: skip
    if verbose:
        print(f"--- seed {sc.seed} [{sc.split}] {sc.cls} noise={sc.noise} shapes={sc.shapes}")
        print(f"summary ({out.speech_s}s): {summary}")
        for s in scores:
            print(
                f"  {s.cls:16} recall={s.recall} summary={s.summary_cause} tracer={s.tracer_cause} plan={s.plan_ok}"
            )
            print(f"     tracer: {s.tracer_text[:300]}")
            print(f"     plan:   {s.plan_text[:200]}")
    return out


def aggregate(results: list[ScenarioScore]) -> dict[str, Any]:
    per: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        for s in r.incidents:
            row = per[s.cls]
            row["recall"].append(s.recall)
            row["summary_cause"].append(s.summary_cause)
            row["tracer_cause"].append(s.tracer_cause)
            row["plan_ok"].append(s.plan_ok)
    classes = {c: {k: f"{sum(v)}/{len(v)}" for k, v in per[c].items()} for c in CLASSES if c in per}
    flat: dict[str, list[bool]] = defaultdict(list)
    for row in per.values():
        for k, v in row.items():
            flat[k].extend(v)
    totals = {k: round(sum(v) / len(v), 3) for k, v in flat.items()}
    false_all_clear = sum(r.summary_all_clear for r in results) + sum(
        s.tracer_all_clear for r in results for s in r.incidents
    )
    return {
        "scenarios": len(results),
        "incidents": sum(len(r.incidents) for r in results),
        "classes": classes,
        "rates": totals,
        "false_all_clear": false_all_clear,
        "speech_s_max": max((r.speech_s for r in results), default=0.0),
        "summaries_over_45s": sum(r.speech_s > MAX_SPEECH_S for r in results),
        "seconds": round(sum(r.seconds for r in results), 1),
    }


def _table(agg: dict[str, Any]) -> str:
    lines = ["| class | recall | cause in summary | tracer cause | plan target |", "|---|---|---|---|---|"]
    for c, row in agg["classes"].items():
        lines.append(
            f"| {c} | {row['recall']} | {row['summary_cause']} | {row['tracer_cause']} | {row['plan_ok']} |"
        )
    r = agg["rates"]
    lines.append(
        f"| **all** | {r['recall']:.3f} | {r['summary_cause']:.3f} | {r['tracer_cause']:.3f} | {r['plan_ok']:.3f} |"
    )
    lines.append(f"\nfalse all-clear: {agg['false_all_clear']}; summary speech max {agg['speech_s_max']} s, "
                 f"over 45 s: {agg['summaries_over_45s']}; {agg['scenarios']} scenarios, {agg['incidents']} incidents, "
                 f"{agg['seconds']} s")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.rca")
    ap.add_argument("--split", choices=("dev", "test"), default="dev")
    ap.add_argument("--seeds", type=int, nargs="*")
    ap.add_argument("--label", default="")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument(
        "--no-confounders", action="store_true", help="library v1: no innocent changes beside incidents"
    )
    ap.add_argument("--alarm-lag", type=float, nargs=2, metavar=("MIN_S", "MAX_S"),
                    help="the alarm fires this long after the first symptom (default 90 480)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.no_confounders:
        scenarios.CONFOUNDERS = False
    if args.alarm_lag:
        scenarios.ALARM_LAG_S = (args.alarm_lag[0], args.alarm_lag[1])
    logging.basicConfig(level=logging.ERROR)
    seeds = args.seeds if args.seeds else [s for s in range(N_SCENARIOS) if split_of(s) == args.split]
    if not args.seeds:
        assert all(split_of(s) == args.split for s in seeds)
    results = [run_scenario(build(s), verbose=args.verbose or bool(args.seeds)) for s in seeds]
    agg = aggregate(results)
    print(_table(agg))
    if not args.seeds:
        RESULTS.mkdir(exist_ok=True)
        name = f"rca_{args.split}{'_' + args.label if args.label else ''}.json"
        payload = {"split": args.split, "confounders": scenarios.CONFOUNDERS, "alarm_lag_s": scenarios.ALARM_LAG_S,
                   "machine": platform.processor() or platform.machine(), **agg,
                   "runs": [asdict(r) for r in results]}  # fmt: skip
        (RESULTS / name).write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0
