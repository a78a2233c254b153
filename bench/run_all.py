"""Run every benchmark in sequence (`make bench`), one subprocess each, on a machine left otherwise idle.

Each benchmark prints its JSON and writes bench/results/<name>.json; bench/RESULTS.md summarises them with the
machine they ran on. `--quick` runs reduced sizes to check that everything still works, and leaves bench/results as it was.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

FULL: list[tuple[str, list[str]]] = [
    ("voice_latency", ["--turns", "20", "--out", "bench/results/voice_latency.json"]),
    ("asr", []),
    ("device_pacing", ["--devices", "20"]),
    ("drilldown", ["--turns", "20"]),
    ("voiceprint", []),
    ("voiceprint_turn", ["--turns", "20"]),
    ("mining", []),
    ("parse", []),
    ("pipeline", ["--lines", "1000000"]),
    ("retrieval", ["--out", "bench/results/retrieval.json"]),
    ("trace", ["--lines", "1000000"]),
    ("rca", ["--split", "test"]),  # RCA library, held-out half (tune on dev: python -m bench.rca)
    ("ondemand", ["--lines", "100000"]),
    ("alert_to_voice", ["--lines", "1000000", "--alerts", "10"]),
    ("webhook_intake", ["--count", "5000"]),
    ("tts_quality", []),
    ("intents", ["--spoken", "--out", "bench/results/intents.json"]),
    ("endpointing", ["--baseline", "--out", "bench/results/endpointing.json"]),
]
QUICK: dict[str, list[str]] = {
    "voice_latency": ["--turns", "3"],
    "device_pacing": ["--devices", "5"],
    "drilldown": ["--turns", "3"],
    "voiceprint_turn": ["--turns", "3"],
    "mining": ["--lines", "100000", "--repeat", "1", "--no-loghub"],
    "parse": ["--lines", "20000"],
    "pipeline": ["--lines", "50000"],
    "trace": ["--lines", "50000", "--reps", "3"],
    "rca": ["--seeds", "0", "1"],
    "ondemand": ["--lines", "20000"],
    "alert_to_voice": ["--lines", "50000", "--alerts", "2"],
    "webhook_intake": ["--count", "500"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not numbers to record")
    ap.add_argument("--only", nargs="*", default=None, help="names of benchmarks to run")
    args = ap.parse_args()
    # a smoke test must not replace recorded measurements: snapshot the results and put them back after
    snapshot = Path(tempfile.mkdtemp(prefix="bench-results-")) if args.quick else None
    if snapshot is not None:
        shutil.copytree(RESULTS, snapshot, dirs_exist_ok=True)
    try:
        failed = _run(args)
    finally:
        if snapshot is not None:
            shutil.rmtree(RESULTS)
            shutil.copytree(snapshot, RESULTS)
            shutil.rmtree(snapshot)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


def _run(args: argparse.Namespace) -> list[str]:
    failed = []
    for name, full_args in FULL:
        if args.only and name not in args.only:
            continue
        argv = QUICK.get(name, []) if args.quick else full_args
        cmd = [sys.executable, "-m", f"bench.{name}", *argv]
        print(f"== {' '.join(cmd[1:])}", flush=True)
        t0 = time.monotonic()
        code = subprocess.call(cmd)
        print(f"== {name}: exit {code} after {time.monotonic() - t0:.0f} s", flush=True)
        if code:
            failed.append(name)
    return failed


if __name__ == "__main__":
    sys.exit(main())
