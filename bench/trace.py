"""Tracer benchmark: build a day's evidence store, then trace every injected incident.

    python -m bench.trace --lines 1000000 [--seed 7] [--reps 20] [--keep DIR]

Generates a day with the sample generator, streams it through the parsers into `EvidenceWriter` (the time spent
in the writer is what the nightly pipeline pays extra), then times `trace()` for an alert on each injected
incident (p50/p95 over --reps runs) and checks the verdict against the ground truth. Writes
bench/results/trace-<lines>.json. Target: a trace well under 1 s on a 1M-line day.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

DAY = "2026-01-15"
OWNER = "bench"
EXPECTED = {
    "image_pull_failure": "bad_image",
    "oom_kill": "oom_kill",
    "insufficient_memory": "scale_beyond_capacity",
    "unbound_pvc": "missing_storage_class",
    "hpa_metrics": "hpa_metrics",
    "configmap_change": "config_change",
}


def _build(root: Path) -> dict:
    from agents.evidence import EvidenceWriter
    from agents.parsers import parse_stream
    from agents.records import LogKind
    from agents.sources.local import LocalSource

    src = LocalSource(root / "logs", OWNER)
    tz = ZoneInfo("Asia/Shanghai")
    clock = time.perf_counter
    t_all = clock()
    writer_s = 0.0
    records = 0
    w = EvidenceWriter.for_day(root / "data", OWNER, DAY)
    for kind in LogKind:
        for ref in src.list_objects(kind, DAY):
            stream = iter(parse_stream(kind, src.open_lines(ref), tz=tz))
            while batch := list(islice(stream, 4096)):
                t = clock()
                for rec in batch:
                    w.add(rec)
                writer_s += clock() - t
                records += len(batch)
    t = clock()
    path = w.close()
    close_s = clock() - t
    return {
        "records": records,
        "kept": w.kept,
        "writer_add_seconds": round(writer_s, 3),
        "writer_close_seconds": round(close_s, 3),
        "writer_us_per_record": round((writer_s + close_s) / max(1, records) * 1e6, 2),
        "parse_and_build_seconds": round(clock() - t_all, 2),
        "store_mb": round(path.stat().st_size / 1e6, 2),
    }


def _trace_all(root: Path, gt: dict, reps: int) -> dict:
    from agents.evidence import StoreSet
    from agents.tracer import AlertKeys, trace

    out = {}
    for inc in gt["incidents"]:
        want = EXPECTED.get(inc["type"])
        if want is None:
            continue
        keys = AlertKeys.build(inc["start_ts"] + 600, namespace=inc["namespace"], workload=inc["workload"],
                               title=inc["type"])  # fmt: skip
        times, result = [], None
        for _ in range(reps):
            t = time.perf_counter()
            stores = StoreSet.for_window(root / "data", OWNER, keys.at - 1800, keys.at + 300)
            result = trace(keys, stores)
            stores.close()
            times.append(time.perf_counter() - t)
        times.sort()
        ok = result.cause == want and (
            not inc["user"] or want in ("oom_kill", "hpa_metrics") or result.changed_by == inc["user"]
        )
        if want == "bad_image":
            ok = ok and result.rollback is not None and result.rollback.image == inc["details"]["old_image"]
        out[inc["type"]] = {
            "expected": want,
            "got": result.cause,
            "changed_by": result.changed_by,
            "confidence": result.confidence,
            "correct": ok,
            "queries": result.stats.get("queries"),
            "p50_ms": round(statistics.median(times) * 1000, 2),
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))] * 1000, 2),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--keep", default=None, help="work directory to keep (default: a temp dir, removed)")
    args = p.parse_args(argv)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="xops-trace-"))
    try:
        from agents.sample_day import generate_day

        t = time.perf_counter()
        gen = generate_day(root / "logs", DAY, lines=args.lines, seed=args.seed, owner=OWNER)
        result = {
            "lines": gen.ground_truth["generated_lines"],
            "generate_seconds": round(time.perf_counter() - t, 2),
        }
        result["store"] = _build(root)
        result["traces"] = _trace_all(root, gen.ground_truth, args.reps)
        result["all_correct"] = all(v["correct"] for v in result["traces"].values())
        print(json.dumps(result, ensure_ascii=False, indent=1))
        out = Path(__file__).resolve().parent / "results" / f"trace-{args.lines}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return 0 if result["all_correct"] else 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
