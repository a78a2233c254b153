"""Intent understanding on the phrase bank (text) and on a spoken subset (synthesized voices → real ASR).

    python -m bench.intents [--spoken] [--out bench/results/intents.json]

Text: every row of tests/intent/phrasebank/phrasebank.tsv through ``server.intent.understand`` (reference
day 2026-11-27; known workloads payment-api, order-service, user-center). A row is right when the intent
and every slot match and the layer did not ask back. Reported per split: ``dev`` (tuned on), ``test``
(held out), ``fresh`` (written after tuning, never tuned on).

Spoken (``--spoken``): a fixed subset of the test split (every second row, leaving out rows that simulate
an ASR error) synthesized with the offline neural voice at three speeds/pitches (``--espeak``: also two
espeak-ng voices), plus the 12 shared recorded commands; each clip is transcribed by the real Whisper ASR (server/speech/asr.py, the server's settings)
and then understood. The intent and slots are compared with the row's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from server.intent.models import Expect
from server.intent.understand import understand

REPO = Path(__file__).resolve().parents[1]
BANK = REPO / "tests" / "intent" / "phrasebank" / "phrasebank.tsv"
COMMANDS = REPO.parent / "shared" / "audio" / "commands"
TODAY = date(2026, 11, 27)
WORKLOADS = ("payment-api", "order-service", "user-center")
# Rows whose text *simulates* an ASR error (日治, 神技, 告井, …) are left out of the spoken subset: a
# speaker says the real words, and the recognizer makes its own errors.
SIMULATED_ASR_ERRORS = (
    "日治", "波报", "波泡", "神技", "告井", "也务", "是件", "手到", "会滚", "回滾", "住策", "生纹", "晓智",
    "关连", "因量", "里水",
)  # fmt: skip
SHARED_EXPECTED = {  # the shared recordings: file → (intent, kind)
    "wake.wav": ("greeting", None),
    "broadcast.wav": ("broadcast", None),
    "broadcast_alt.wav": ("broadcast", None),
    "drill_business.wav": ("drill_down", "business"),
    "drill_event.wav": ("drill_down", "event"),
    "drill_audit.wav": ("drill_down", "audit"),
    "correlate.wav": ("drill_down", "correlate"),
    "rollback_yes.wav": ("rollback_confirm", None),
    "rollback_no.wav": ("rollback_deny", None),
    "enroll.wav": ("enroll_voiceprint", None),
    "chat.wav": ("chat", None),
    "alerts.wav": ("alerts", None),
}


def load_rows() -> list[dict[str, str]]:
    with BANK.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def slots(row: dict[str, str]) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in row["slots"].split(";") if kv)


def judge(text: str, row: dict[str, str], day: date = TODAY) -> tuple[bool, str]:
    u = understand(text, day, Expect(row["context"]), WORKLOADS)
    got = {k: str(v) for k, v in u.intent.args.items()}
    ok = u.intent.name == row["intent"] and got == slots(row) and not u.confirm
    return ok, f"{u.intent.name} {got}{' (asked back)' if u.confirm else ''}"


def text_accuracy(rows: list[dict[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    times: list[float] = []
    for split in ("dev", "test", "fresh"):
        part = [r for r in rows if r["split"] == split]
        wrong, asked, per_intent = [], 0, Counter[str]()
        for r in part:
            t0 = time.perf_counter()
            ok, got = judge(r["text"], r)
            times.append(time.perf_counter() - t0)
            asked += "(asked back)" in got
            if not ok:
                wrong.append({"text": r["text"], "want": f"{r['intent']} {slots(r)}", "got": got})
                per_intent[r["intent"]] += 1
        out[split] = {
            "n": len(part),
            "right": len(part) - len(wrong),
            "accuracy": round(1 - len(wrong) / len(part), 4),
            "asked_back": asked,
            "silently_wrong": len(wrong) - sum("(asked back)" in w["got"] for w in wrong),
            "wrong": wrong,
        }
    out["understand_ms_p50"] = round(statistics.median(times) * 1000, 2)
    return out


def spoken_accuracy(rows: list[dict[str, str]], with_espeak: bool) -> dict[str, Any]:
    from bench.instance import isolated_settings
    from bench.voices import NEURAL_VOICES, VOICES
    from firmware_bridge.audio import read_wav
    from server.speech.asr import WhisperASR  # noqa: F401  (the real ASR, loaded through the stack)
    from server.speech.stack import SpeechStack

    spoken = [r for r in rows if not any(e in r["text"] for e in SIMULATED_ASR_ERRORS)]
    subset = [r for r in spoken if r["split"] == "test"][::2]
    with tempfile.TemporaryDirectory() as tmp:
        stack = SpeechStack.load(isolated_settings(Path(tmp)))
        voices: list[Any] = [*NEURAL_VOICES, *((VOICES[0], VOICES[1]) if with_espeak else ())]
        per_voice: dict[str, Any] = {}
        for voice in voices:
            right, wrong = 0, []
            for r in subset:
                heard = stack.asr.transcribe(voice.synthesize(r["text"])).text
                ok, got = judge(heard, r)
                right += ok
                if not ok:
                    wrong.append({"text": r["text"], "heard": heard, "got": got})
            per_voice[voice.name] = {
                "n": len(subset),
                "right": right,
                "accuracy": round(right / len(subset), 4),
                "wrong": wrong,
            }
        shared = {"n": 0, "right": 0, "wrong": []}
        for name, (intent, kind) in SHARED_EXPECTED.items():
            pcm, _ = read_wav(COMMANDS / name)
            heard = stack.asr.transcribe(pcm).text
            u = understand(heard, TODAY)
            shared["n"] += 1
            if (u.intent.name, u.intent.kind) == (intent, kind) and not u.confirm:
                shared["right"] += 1
            else:
                shared["wrong"].append({"file": name, "heard": heard, "got": u.intent.describe()})
        stack.close()
    neural = [v for k, v in per_voice.items() if k.startswith("neural")]
    return {
        "subset": len(subset),
        "per_voice": per_voice,
        "neural_voices_accuracy": round(sum(v["right"] for v in neural) / sum(v["n"] for v in neural), 4),
        "shared_recordings": shared,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spoken", action="store_true", help="also the spoken subset (loads Whisper; minutes)")
    ap.add_argument("--espeak", action="store_true", help="spoken subset also in two espeak-ng voices")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = load_rows()
    doc: dict[str, Any] = {
        "machine": f"{platform.node()} {platform.machine()} cores={os.cpu_count()} load={os.getloadavg()[0]:.1f}",
        "when": datetime.now().isoformat(timespec="seconds"),
        "intents": sorted({r["intent"] for r in rows}),
        "text": text_accuracy(rows),
    }
    if args.spoken:
        doc["spoken"] = spoken_accuracy(rows, args.espeak)
    by_intent: dict[str, int] = defaultdict(int)
    for r in rows:
        by_intent[r["intent"]] += 1
    doc["rows_per_intent"] = dict(sorted(by_intent.items()))
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
