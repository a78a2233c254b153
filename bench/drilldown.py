"""Spoken drill-down latency without an LLM: end of the user's speech → first audio frame on the device.

    python -m bench.drilldown [--turns 20] [--out bench/results/drilldown.json]

Runs the real service in this process (Opus, Silero VAD, Whisper base, the deterministic drill-down over
a generated and analysed sample day, espeak-ng TTS, paced downlink) and a virtual device speaking the
shared command recordings in real time: drill_business / drill_event / drill_audit / correlate, in turn.

Per turn it records
- ``speech_to_audio``: the moment the last voiced sample left the device's mic (from the recording's
  energy envelope) → the first downlink audio frame reaching the device (what a user waits);
- the server's stages after the VAD endpoint: asr, intent, reply, tts_first, first_audio (ms).

Target: p50 speech_to_audio ≤ 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from bench.instance import isolated_settings

REPO = Path(__file__).resolve().parents[1]
COMMANDS = REPO.parent / "shared" / "audio" / "commands"
WAVS = ("drill_business.wav", "drill_event.wav", "drill_audit.wav", "correlate.wav")
TZ = "Asia/Shanghai"


def voice_ends_s(
    pcm: np.ndarray, rate: int, pause_ms: int = 400, frame_ms: int = 20, floor_db: float = -40.0
) -> list[float]:
    """Where each spoken phrase of a recording ends (seconds): a phrase is followed by at least
    ``pause_ms`` below ``floor_db`` dBFS, as the server's VAD endpoint sees it (or by the end of the file)."""
    n = rate * frame_ms // 1000
    frames = len(pcm) // n
    x = pcm[: frames * n].astype(np.float32).reshape(frames, n) / 32768.0
    loud = 20 * np.log10(np.sqrt((x**2).mean(axis=1)) + 1e-9) > floor_db
    ends, quiet_run, last_loud = [], 0, None
    for i, is_loud in enumerate(loud):
        if is_loud:
            last_loud, quiet_run = i, 0
        elif last_loud is not None:
            quiet_run += 1
            if quiet_run * frame_ms == pause_ms:
                ends.append((last_loud + 1) * n / rate)
    if last_loud is not None and quiet_run * frame_ms < pause_ms:
        ends.append((last_loud + 1) * n / rate)
    return ends or [len(pcm) / rate]


async def settle(device: Any) -> None:
    """Let a trailing phrase (a pause inside a command makes two turns) finish, and silence its answer."""
    for _ in range(3):
        await asyncio.sleep(0.8)
        if device.state != "speaking":
            return
        since = len(device.events)
        await device.abort()
        await device.wait_json("tts", "stop", timeout=10, since=since)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return round(s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))], 1)


async def run(turns: int) -> dict[str, Any]:
    from agents.pipeline import PipelineConfig
    from agents.pipeline import run as run_pipeline
    from agents.sample_day import generate_day
    from agents.sources.local import LocalSource
    from firmware_bridge.audio import read_wav
    from firmware_bridge.virtual_device import VirtualDevice
    from server.app import App
    from server.dialogue.trace import TurnTrace

    tmp = Path(tempfile.mkdtemp(prefix="bench-drilldown-"))
    day = (datetime.now(ZoneInfo(TZ)).date() - timedelta(days=1)).isoformat()
    settings = isolated_settings(tmp, timezone=TZ)
    generate_day(tmp / "logs", day, lines=20_000, seed=1)
    await asyncio.to_thread(
        run_pipeline,
        "default",
        day,
        LocalSource(tmp / "logs", "default"),
        PipelineConfig(results_dir=settings.results_dir, state_dir=tmp / "state", timezone=TZ),
    )
    app = App(settings)
    t0 = time.monotonic()
    await app.start()
    startup = time.monotonic() - t0
    traces: list[TurnTrace] = []
    assert app.services is not None
    app.services.turn_listeners.append(traces.append)
    recordings = {w: read_wav(COMMANDS / w) for w in WAVS}
    rows: list[dict[str, Any]] = []
    try:
        async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
            await device.wake()
            for i in range(turns):
                wav = WAVS[i % len(WAVS)]
                pcm, rate = recordings[wav]
                since, before = len(device.events), len(traces)
                audio = np.concatenate([pcm, np.zeros(rate, dtype=np.int16)])
                t_send = time.monotonic()
                sender = asyncio.create_task(device.send_pcm(audio, rate, realtime=True))
                phrase_ends = [t_send + e for e in voice_ends_s(pcm, rate)]
                first = await device.wait_for(
                    lambda e: e.kind == "audio" and e.direction == "in", timeout=60, since=since
                )
                # the phrase whose end the VAD answered: the last one that ended before the answer
                t_voice_end = max([t for t in phrase_ends if t <= first.t] or phrase_ends[:1])
                said = [e.message["text"] for e in device.received("tts", "sentence_start") if e.t >= t_send]
                await device.abort()
                await device.wait_json("tts", "stop", timeout=10, since=since)
                await sender
                await settle(device)
                for _ in range(100):
                    if len(traces) > before:
                        break
                    await asyncio.sleep(0.05)
                trace = traces[-1] if len(traces) > before else None
                stages = (
                    {s: trace.ms(s) for s in ("asr", "intent", "reply", "tts_first", "first_audio")}
                    if trace
                    else {}
                )
                row = {
                    "wav": wav,
                    "speech_to_audio_ms": round((first.t - t_voice_end) * 1000, 1),
                    "endpoint_to_audio_ms": stages.get("first_audio"),
                    "stages_ms": {k: round(v, 1) for k, v in stages.items() if v is not None},
                    "first_sentence": said[0] if said else "",
                    "phrases": len(phrase_ends),
                }
                rows.append(row)
                print(
                    f"{i + 1:2d} {wav:20s} speech→audio {row['speech_to_audio_ms']:7.1f} ms  {row['stages_ms']}"
                )
                await device.start_listening()
    finally:
        await app.stop()
    e2e = [r["speech_to_audio_ms"] for r in rows]
    server = [r["endpoint_to_audio_ms"] for r in rows if r["endpoint_to_audio_ms"] is not None]
    stage_p50 = {
        s: pct([r["stages_ms"][s] for r in rows if s in r["stages_ms"]], 50)
        for s in ("asr", "intent", "reply", "tts_first", "first_audio")
    }
    return {
        "turns": len(rows),
        "speech_to_audio_ms": {
            "p50": pct(e2e, 50),
            "p95": pct(e2e, 95),
            "mean": round(statistics.fmean(e2e), 1),
        },
        "endpoint_to_audio_ms": {"p50": pct(server, 50), "p95": pct(server, 95)},
        "server_stage_p50_ms": stage_p50,
        "target_p50_ms": 1000,
        "startup_s": round(startup, 1),
        "vad_silence_ms": settings.vad_silence_ms,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--out", default="bench/results/drilldown.json")
    args = parser.parse_args()
    result = asyncio.run(run(max(1, args.turns)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    summary = {k: v for k, v in result.items() if k != "rows"}
    print(json.dumps(summary, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
