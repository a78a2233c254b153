"""On-demand analysis, spoken: end of "开始播报日志" → first word of a summary that did not exist yet.

    python -m bench.ondemand [--lines 100000] [--reps 3] [--out bench/results/ondemand.json]

An enrolled owner (the shared commands voice) has keys bound for a bucket on a local COS server (real SDK
signatures) holding a generated day in the CLS→COS layout (gzip); there is no report for yesterday. A virtual
device wakes (pre-roll = commands/wake.wav) and says commands/broadcast.wav in real time (60 ms frames),
followed by silence. Measured per repetition, from the end of speech (as in bench.voice_latency):

- the "正在为您分析…" progress sentence (``tts sentence_start``),
- the first sentence of the owner's llm_summary.txt (target ≤ 20 s),
- when llm_summary.txt was written (its mtime), and the pipeline's own stage timings.

Between repetitions the owner's results dir is deleted so the analysis really runs again; the Chroma index
and its embedding cache stay, which shows what the cache saves on a repeated day.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from agents.sample_day import generate_day
from bench.instance import isolated_settings
from bench.mining import machine
from bench.voice_latency import COMMANDS, FRAME_S, REPO, trim_trailing_silence
from firmware_bridge.audio import read_wav
from firmware_bridge.virtual_device import DeviceEvent, VirtualDevice
from server.app import App
from server.speech.text import speakable_sentences
from server.vault.store import CredentialsIn
from tests.fakes.cos_server import FakeCosServer

OWNER = "owner1"
SECRET_ID = "AKIDbench0000000001"
SECRET_KEY = "bench-secret-key-0001"
BUCKET = "logs-bench-1250000001"
PROGRESS_MARK = "正在为您分析"
TARGET_S = 20.0


def wav(name: str) -> np.ndarray:
    pcm, rate = read_wav(COMMANDS / name)
    if rate != 16000:
        raise ValueError(f"{name}: expected 16 kHz, got {rate}")
    return pcm


def _sentence(e: DeviceEvent) -> bool:
    m = e.message
    return e.direction == "in" and e.kind == "json" and m is not None and m.get("state") == "sentence_start"


async def one_request(
    url: str, preroll: np.ndarray, speech: np.ndarray, timeout: float
) -> tuple[dict[str, float], list[str], float]:
    """Wake, ask, and time the progress sentence and the sentence after it. Returns (seconds after end of
    speech, the sentences heard, the wall-clock time of the end of speech)."""
    rate = 16000
    frames = int(np.ceil(len(speech) / (rate * FRAME_S)))
    audio = np.concatenate([speech, np.zeros(3 * rate, dtype=np.int16)])
    async with VirtualDevice(url, device_id="be:00:00:00:00:01") as device:
        await device.wake(preroll=preroll)
        since = len(device.events)
        t0, wall0 = time.monotonic(), time.time()
        sender = asyncio.create_task(device.send_pcm(audio, rate, realtime=True))
        t_end, wall_end = t0 + frames * FRAME_S, wall0 + frames * FRAME_S
        try:
            first = await device.wait_for(_sentence, timeout=60, since=since)
            i = device.events.index(first)
            second = await device.wait_for(_sentence, timeout=timeout, since=i + 1)
            audio_in = await device.wait_for(
                lambda e: e.kind == "audio" and e.direction == "in", timeout=30, since=i
            )
        finally:
            await device.abort()
            sender.cancel()
        texts = [e.message["text"] for e in device.events[since:] if _sentence(e) and e.message]
        times = {
            "first_sentence_s": first.t - t_end,
            "first_audio_s": audio_in.t - t_end,
            "summary_sentence_s": second.t - t_end,
        }
        return times, texts, wall_end


async def run(lines: int, reps: int, seed: int) -> dict[str, Any]:
    host = machine()  # load average before we add our own
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp, FakeCosServer() as cos:
        tz = "Asia/Shanghai"
        day = (datetime.now(ZoneInfo(tz)).date() - timedelta(days=1)).isoformat()
        t = time.perf_counter()
        gen = generate_day(Path(tmp) / "gen", day, lines=lines, seed=seed, owner=OWNER, local=False, cos=True)
        cos.add_user(SECRET_ID, SECRET_KEY)
        cos.add_bucket(BUCKET, [SECRET_ID])
        objects = cos.put_dir(BUCKET, gen.cos_dir)
        gz_bytes = sum(p.stat().st_size for p in Path(gen.cos_dir).rglob("*") if p.is_file())
        gen_s = time.perf_counter() - t

        settings = isolated_settings(Path(tmp), timezone=tz, cos_endpoint=f"http://{cos.ip}:{cos.port}")
        app = App(settings)
        await app.start(run_pipeline=False)
        assert app.voiceprints is not None and app.vault is not None and app.scheduler is not None
        try:
            owner = app.voiceprints.create_owner(OWNER)
            clips = [wav(f"enroll_phrase_{i}.wav") for i in (1, 2, 3)]
            await asyncio.to_thread(app.voiceprints.enrol, owner.id, clips)
            app.vault.bind(
                owner.id,
                CredentialsIn(
                    secret_id=SECRET_ID, secret_key=SECRET_KEY, region="ap-guangzhou", bucket=BUCKET
                ),
            )
            url = f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/"
            preroll = wav("wake.wav")
            speech = trim_trailing_silence(wav("broadcast.wav"), 16000)
            out_dir = settings.results_dir / day / OWNER
            runs = []
            for rep in range(reps):
                shutil.rmtree(out_dir, ignore_errors=True)
                app.scheduler.last_results.pop(OWNER, None)
                before = _embed_counts(app.scheduler._index)
                times, texts, wall_end = await one_request(url, preroll, speech, timeout=600)
                await _wait_done(app, OWNER, timeout=600)  # the index may still be running after the reply
                summary_file = out_dir / "llm_summary.txt"
                summary = summary_file.read_text(encoding="utf-8") if summary_file.exists() else ""
                expected = speakable_sentences(summary)[:1]
                result = app.scheduler.last_results.get(OWNER)
                stage = getattr(result, "stage_seconds", None)
                after = _embed_counts(app.scheduler._index)
                runs.append(
                    {
                        "rep": rep + 1,
                        "progress_sentence_ms": round(times["first_sentence_s"] * 1000),
                        "progress_audio_ms": round(times["first_audio_s"] * 1000),
                        "summary_first_sentence_ms": round(times["summary_sentence_s"] * 1000),
                        "summary_written_ms": (
                            round((summary_file.stat().st_mtime - wall_end) * 1000)
                            if summary_file.exists()
                            else None
                        ),
                        "within_target": times["summary_sentence_s"] <= TARGET_S,
                        "progress_text": texts[0] if texts else None,
                        "progress_ok": bool(texts) and PROGRESS_MARK in texts[0],
                        "summary_text": texts[1] if len(texts) > 1 else None,
                        "summary_matches_file": len(texts) > 1 and texts[1:2] == expected,
                        "pipeline_stage_seconds": stage if stage is not None else str(result),
                        "pipeline_lines": getattr(result, "lines", None),
                        "embedded_texts": after[0] - before[0],
                        "embedding_cache_hits": after[1] - before[1],
                    }
                )
                print(json.dumps(runs[-1], ensure_ascii=False), flush=True)
        finally:
            await app.stop()
        cos_requests = len(cos.requests)

    summary_ms = [r["summary_first_sentence_ms"] for r in runs]
    return {
        "bench": "ondemand",
        "machine": host,
        "when": datetime.now().isoformat(timespec="seconds"),
        "lines": lines,
        "seed": seed,
        "cos_objects": objects,
        "cos_gzip_bytes": gz_bytes,
        "cos_requests": cos_requests,
        "day_generation_s": round(gen_s, 1),
        "target_summary_first_sentence_ms": round(TARGET_S * 1000),
        "runs": runs,
        "summary_first_sentence_ms": {"min": min(summary_ms), "max": max(summary_ms)},
        "all_within_target": all(r["within_target"] for r in runs),
    }


def _embed_counts(index: Any) -> tuple[int, int]:
    """(texts run through the embedding model, cache hits) so far; the index opens on the first run."""
    emb = getattr(index, "embedder", None)
    if emb is None:
        return 0, 0
    return int(getattr(emb, "embedded", 0)), int(getattr(emb, "cache_hits", 0))


async def _wait_done(app: App, owner: str, timeout: float) -> None:
    assert app.scheduler is not None
    deadline = time.monotonic() + timeout
    while owner not in app.scheduler.last_results:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pipeline for {owner} did not finish within {timeout:.0f} s")
        await asyncio.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "ondemand.json"))
    args = ap.parse_args()
    result = asyncio.run(run(args.lines, args.reps, args.seed))
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
