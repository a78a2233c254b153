"""Pipeline benchmark: generate a day of N lines, then run the whole pipeline (deterministic analyst) on it.

    python -m bench.pipeline --lines 1000000 [--seed 7] [--keep DIR] [--cos-layout]

Prints generation time, per-stage seconds and lines/s, end-to-end time and peak RSS (ru_maxrss) of the pipeline,
and writes them as JSON to bench/results/pipeline-<lines>.json. Targets: 1M lines ≤ 60 s and ≤ 2 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY = "2026-01-15"


def _pipeline(root: Path, lines: int) -> dict:
    from agents.pipeline import PipelineConfig, run
    from agents.sources.local import LocalSource

    cfg = PipelineConfig(results_dir=root / "results", state_dir=root / "state")
    res = run("bench", DAY, LocalSource(root / "logs", "bench"), cfg)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "lines": res.lines,
        "records": res.records,
        "stage_seconds": res.stage_seconds,
        "lines_per_second": res.lines_per_second,
        "peak_rss_mb": round(peak_mb, 1),
        "findings": len(res.report.findings),
        "kind_errors": res.kind_errors,
        "summary_chars": len(res.analysis.summary),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", default=None, help="work directory to keep (default: a temp dir, removed)")
    p.add_argument("--cos-layout", action="store_true", help="read the CLS→COS gzip layout instead of NDJSON")
    p.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._child:  # measured in a fresh process so ru_maxrss is the pipeline's alone
        print(json.dumps(_pipeline(Path(args._child), args.lines)))
        return 0
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="xops-bench-"))
    try:
        from agents.sample_day import generate_day

        t = time.perf_counter()
        gen = generate_day(root / "logs", DAY, lines=args.lines, seed=args.seed, owner="bench",
                           local=not args.cos_layout, cos=args.cos_layout)  # fmt: skip
        gen_s = time.perf_counter() - t
        out = subprocess.run(
            [sys.executable, "-m", "bench.pipeline", "--lines", str(args.lines), "--_child", str(root)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result.update(generated_lines=gen.ground_truth["generated_lines"], generate_seconds=round(gen_s, 2),
                      layout="cos" if args.cos_layout else "local")  # fmt: skip
        e2e = result["stage_seconds"]["total"]
        print(f"generated {result['generated_lines']} lines in {gen_s:.1f}s ({result['layout']} layout)")
        for stage, sec in result["stage_seconds"].items():
            lps = result["lines_per_second"].get(stage)
            print(f"  {stage:8s} {sec:8.2f}s" + (f"  {lps:>10,} lines/s" if lps else ""))
        print(
            f"end to end {e2e:.1f}s = {result['lines'] / e2e:,.0f} lines/s; peak RSS {result['peak_rss_mb']:.0f} MB"
        )
        print(f"targets (1M lines): ≤ 60 s → {'OK' if e2e <= 60 * args.lines / 1e6 else 'MISSED'}, "
              f"≤ 2048 MB → {'OK' if result['peak_rss_mb'] <= 2048 else 'MISSED'}")  # fmt: skip
        results = Path(__file__).resolve().parent / "results"
        results.mkdir(exist_ok=True)
        (results / f"pipeline-{args.lines}.json").write_text(json.dumps(result, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
