"""Adaptive endpointing: premature cut-offs on natural mid-sentence pauses, and end of speech → first audio.

    python -m bench.endpointing [--baseline] [--out bench/results/endpointing.json]

Pause set: requests spoken in two halves joined by 300–800 ms of silence, the first half unfinished
("算了，" / "把音量调到" / "审计日志里" / "小智，" …), in the offline neural voice at three speeds/pitches.
Each is streamed in real time (60 ms frames) by a virtual device into a full isolated server, then 2.5 s of
silence. A **premature cut-off** = a transcript (``stt``) sent before the speaker finished, or more than one
turn for one request. Complete set: finished commands with no pause, to measure how fast a finished
command ends (end of speech → first downlink audio frame). ``--baseline`` also runs both sets with adaptive
endpointing off (the fixed 400 ms silence) for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.instance import isolated_settings, write_summary
from bench.voices import NEURAL_VOICES, RATE, silence, with_pause
from firmware_bridge.virtual_device import VirtualDevice
from server.app import App
from server.dialogue.trace import Stage, TurnTrace

FRAME_S = 0.06
PAUSES = (0.3, 0.45, 0.6, 0.8)
SUMMARY = "昨天业务日志共六万条，订单服务在下午两点后错误激增。是否需要针对某类日志进行更详细的分析？"
PAUSE_SET = (
    ("算了，", "先不要回滚"),
    ("小智，", "播报一下昨天的日志"),
    ("把音量调到", "五十"),
    ("审计日志里", "谁改了配置"),
    ("帮我看看", "事件日志"),
    ("业务日志和", "审计日志关联分析一下"),
    ("昨天的", "业务日志有多少报错"),
    ("那个，", "现在有告警吗"),
    ("嗯，", "开始播报日志"),
    ("先别", "回滚"),
    ("请帮我", "注册声纹"),
    ("昨天业务日志里", "有什么错误"),
)
COMPLETE_SET = (
    "开始播报日志",
    "现在有告警吗",
    "确认回滚",
    "审计日志里谁改了配置",
    "声音大一点",
    "今天星期几",
)


@dataclass
class Outcome:
    text: str
    pause_s: float | None
    voice: str
    transcripts: list[str]
    premature: bool
    eos_to_first_audio_s: float | None
    eos_to_endpoint_s: float | None  # when the server decided the turn ended (after the speculative ASR)
    verdicts: list[str]


async def one(
    url: str, traces: list[TurnTrace], pcm: np.ndarray, text: str, pause: float | None, voice: str
) -> Outcome:
    before = len(traces)
    async with VirtualDevice(url) as device:
        await device.wake()
        await asyncio.sleep(0.2)
        since = len(device.events)
        frames = int(np.ceil(len(pcm) / (RATE * FRAME_S)))
        t0 = time.monotonic()
        sender = asyncio.create_task(
            device.send_pcm(np.concatenate([pcm, silence(2.5)]), RATE, realtime=True)
        )
        t_end = t0 + frames * FRAME_S
        first_audio = None
        try:
            ev = await device.wait_for(
                lambda e: e.kind == "audio" and e.direction == "in", timeout=30, since=since
            )
            first_audio = ev.t - t_end
        except TimeoutError:
            pass
        await sender  # the rest of the request and its trailing silence
        await device.abort()  # the reply is not listened to: its turn ends and is traced
        await asyncio.sleep(0.8)
        stt = [e for e in device.events[since:] if e.message and e.message.get("type") == "stt"]
        early = any(e.t < t_end for e in stt)
    texts = [str(e.message["text"]) for e in stt if e.message]
    mine = [t for t in traces[before:] if t.at(Stage.ENDPOINT) is not None and t.started >= t0]
    # a turn ended before the speaker did (50 ms: frame pacing jitter) is a cut-off, heard or not
    early = early or any(t.started < t_end - 0.05 for t in mine)
    endpoint = min((t.started - t_end for t in mine), default=None)
    verdicts = [str(t.data(Stage.ENDPOINT).get("verdict")) for t in mine]
    return Outcome(text, pause, voice, texts, early or len(mine) > 1, first_audio, endpoint, verdicts)


def p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


async def run(adaptive: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = isolated_settings(Path(tmp), vad_adaptive=adaptive)
        write_summary(settings, SUMMARY)
        app = App(settings)
        await app.start(run_pipeline=False)  # no nightly catch-up competing for the CPU
        traces: list[TurnTrace] = []
        app.services.turn_listeners.append(traces.append)
        url = f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/"
        pauses: list[Outcome] = []
        complete: list[Outcome] = []
        try:
            for i, (first, second) in enumerate(PAUSE_SET):
                voice = NEURAL_VOICES[i % len(NEURAL_VOICES)]
                pause = PAUSES[i % len(PAUSES)]
                pcm = with_pause(voice.synthesize(first), voice.synthesize(second), pause)
                pauses.append(await one(url, traces, pcm, first + second, pause, voice.name))
            for i, text in enumerate(COMPLETE_SET):
                voice = NEURAL_VOICES[i % len(NEURAL_VOICES)]
                complete.append(await one(url, traces, voice.synthesize(text), text, None, voice.name))
        finally:
            await app.stop()
    lat_p = [o.eos_to_first_audio_s for o in pauses if o.eos_to_first_audio_s is not None and not o.premature]
    lat_c = [o.eos_to_first_audio_s for o in complete if o.eos_to_first_audio_s is not None]
    ep_c = [o.eos_to_endpoint_s for o in complete if o.eos_to_endpoint_s is not None]
    ep_p = [o.eos_to_endpoint_s for o in pauses if o.eos_to_endpoint_s is not None and not o.premature]
    return {
        "adaptive": adaptive,
        "premature_cutoffs": sum(o.premature for o in pauses),
        "pause_items": len(pauses),
        "pause_eos_to_first_audio_p50_s": p50(lat_p),
        "complete_eos_to_first_audio_p50_s": p50(lat_c),
        "complete_eos_to_first_audio_max_s": round(max(lat_c), 3) if lat_c else None,
        "complete_eos_to_endpoint_p50_s": p50(ep_c),
        "pause_eos_to_endpoint_p50_s": p50(ep_p),
        "pause_items_detail": [o.__dict__ for o in pauses],
        "complete_items_detail": [o.__dict__ for o in complete],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", action="store_true", help="also run with adaptive endpointing off")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    results = [asyncio.run(run(True))]
    if args.baseline:
        results.append(asyncio.run(run(False)))
    load = os.getloadavg()
    doc = {
        "machine": f"{platform.node()} {platform.machine()} cores={os.cpu_count()} load={load[0]:.1f}",
        "when": datetime.now().isoformat(timespec="seconds"),
        "runs": results,
    }
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
