"""ASR benchmark: ``python -m bench.asr [--windows 10 30] [--threads 2] [--beam 5] [--repeat 1]``.

For every recording in shared/audio/commands: VAD-free Whisper latency per command with the short mel
window (fast path) and with the standard 30 s window, real-time factor, and the intent the matcher reads
from each transcript (accuracy against tests/speech/expected.py). Load and warm-up are timed separately.
Results are printed and written to bench/results/asr.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = REPO.parent / "shared" / "audio" / "commands"
RESULTS = REPO / "bench" / "results" / "asr.json"


def run(window_s: int, threads: int, beam: int, repeat: int) -> dict:
    from server.config import Settings
    from server.intent.matcher import match_intent
    from server.speech.asr import WhisperASR
    from server.speech.wavio import read_wav
    from tests.speech.expected import EXPECTED, TODAY, intent_ok

    settings = Settings(data_dir=REPO / "data")
    t0 = time.perf_counter()
    asr = WhisperASR(settings.whisper_path, threads=threads, window_s=window_s, beam_size=beam)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    asr.warmup()
    warm_s = time.perf_counter() - t0

    rows = []
    for name in EXPECTED:
        pcm, _ = read_wav(COMMANDS / name)
        times = []
        for _ in range(repeat):
            t = asr.transcribe(pcm)
            times.append(t.elapsed_s)
        got = match_intent(t.text, today=TODAY)
        rows.append(
            {
                "file": name,
                "audio_s": round(t.duration_s, 3),
                "asr_s": round(min(times), 3),
                "rtf": round(min(times) / t.duration_s, 3),
                "path": t.path,
                "text": t.text,
                "intent": got.name if got else None,
                "args": got.args if got else {},
                "intent_ok": intent_ok(EXPECTED[name], got),
            }
        )
    asr.close()
    commands = [r for r in rows if r["file"] != "long.wav"]
    audio = sum(r["audio_s"] for r in rows)
    return {
        "window_s": window_s,
        "threads": threads,
        "beam_size": beam,
        "load_s": round(load_s, 2),
        "warmup_s": round(warm_s, 2),
        "mean_command_s": round(statistics.mean(r["asr_s"] for r in commands), 3),
        "max_command_s": round(max(r["asr_s"] for r in commands), 3),
        "p50_command_s": round(statistics.median(r["asr_s"] for r in commands), 3),
        "overall_rtf": round(sum(r["asr_s"] for r in rows) / audio, 3),
        "intent_accuracy": f"{sum(r['intent_ok'] for r in rows)}/{len(rows)}",
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1, help="runs per file; the fastest counts")
    args = parser.parse_args()

    results = [run(w, args.threads, args.beam, args.repeat) for w in args.windows]
    for res in results:
        print(
            f"\nwindow {res['window_s']:>2} s, {res['threads']} threads, beam {res['beam_size']}: "
            f"load {res['load_s']} s, warm-up {res['warmup_s']} s, per command mean {res['mean_command_s']} s "
            f"(p50 {res['p50_command_s']}, max {res['max_command_s']}), RTF {res['overall_rtf']}, "
            f"intent {res['intent_accuracy']}"
        )
        for r in res["rows"]:
            mark = "ok " if r["intent_ok"] else "BAD"
            print(
                f"  {mark} {r['file']:20s} {r['audio_s']:5.2f}s audio {r['asr_s']:5.2f}s {r['path']:6s} "
                f"{r['text']} -> {r['intent']} {r['args'] or ''}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.machine(), "cpus": __import__("os").cpu_count(), "at": time.strftime("%F %T")}
    RESULTS.write_text(json.dumps({"meta": meta, "runs": results}, ensure_ascii=False, indent=1) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
