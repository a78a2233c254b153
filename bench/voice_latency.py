"""End of user speech → first downlink audio frame, through the real server and a virtual device.

    python -m bench.voice_latency [--turns 20] [--devices 1]

For each turn the virtual device sends a recorded command in real time (60 ms Opus frames) followed by
silence, exactly like the firmware in auto mode. "End of speech" is the moment the last frame that still
contains speech was sent (trailing silence of the recording is trimmed first); the turn's latency is the
arrival of the first downlink Opus frame. Also reports ASR real-time factor and server RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from bench.instance import isolated_settings, write_summary
from firmware_bridge.audio import read_wav
from firmware_bridge.virtual_device import VirtualDevice
from server.app import App
from server.dialogue.trace import TurnTrace

REPO = Path(__file__).resolve().parents[1]
COMMANDS = REPO.parent / "shared" / "audio" / "commands"
FRAME_S = 0.06
SUMMARY = (
    "昨天业务日志共六万条，订单服务在下午两点后错误激增。事件日志显示 order-api 的镜像拉取失败。"
    "审计日志显示 alice 修改了镜像版本。建议回滚 order-api。"
    "是否需要针对某类日志进行更详细的分析？"
)


def trim_trailing_silence(pcm: np.ndarray, rate: int, threshold: float = 0.02) -> np.ndarray:
    frame = int(rate * FRAME_S)
    x = pcm.astype(np.float32) / 32768
    n = len(x) // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    voiced = np.nonzero(rms > threshold)[0]
    end = (voiced[-1] + 1) * frame if len(voiced) else len(pcm)
    return pcm[:end]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


async def one_turn(device: VirtualDevice, pcm: np.ndarray, rate: int, silence_s: float = 3.0) -> float:
    """Returns end-of-speech → first downlink audio, in seconds."""
    since = len(device.events)
    speech_frames = int(np.ceil(len(pcm) / (rate * FRAME_S)))
    audio = np.concatenate([pcm, np.zeros(int(rate * silence_s), dtype=np.int16)])
    t0 = time.monotonic()
    sender = asyncio.create_task(device.send_pcm(audio, rate, realtime=True))
    first = await device.wait_for(
        lambda e: e.kind == "audio" and e.direction == "in", timeout=30, since=since
    )
    t_end = t0 + speech_frames * FRAME_S
    await device.abort()
    await device.wait_json("tts", "stop", timeout=10, since=since)
    sender.cancel()
    await asyncio.sleep(0.3)
    await device.start_listening()
    return first.t - t_end


async def run(turns: int, devices: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = isolated_settings(Path(tmp))
        write_summary(settings, SUMMARY)
        app = App(settings)
        await app.start()
        traces: list[TurnTrace] = []
        app.services.turn_listeners.append(traces.append)
        url = f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/"
        results: dict[str, list[float]] = {}
        try:
            for name in ("broadcast", "chat"):
                pcm, rate = read_wav(COMMANDS / f"{name}.wav")
                pcm = trim_trailing_silence(pcm, rate)
                lat: list[float] = []
                async with VirtualDevice(url, device_id="aa:bb:cc:00:00:01") as device:
                    await device.wake()
                    for _ in range(turns):
                        lat.append(await one_turn(device, pcm, rate))
                results[name] = lat
        finally:
            await app.stop()
        asr = [(data.get("path"), t) for tr in traces for stage, t, data in tr.stages if stage == "asr"]
        asr_ms = [tr.ms("asr") for tr in traces if tr.ms("asr") is not None]
        stage_ms: dict[str, list[float]] = {}
        for tr in traces:
            for stage, t, _ in tr.stages:
                stage_ms.setdefault(stage, []).append((t - tr.started) * 1000)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "machine": f"{platform.node()} {platform.machine()} cores={__import__('os').cpu_count()} python={platform.python_version()}",
        "when": datetime.now().isoformat(timespec="seconds"),
        "turns_per_command": turns,
        "latency_ms": {
            name: {
                "p50": round(percentile(v, 50) * 1000),
                "p95": round(percentile(v, 95) * 1000),
                "min": round(min(v) * 1000),
                "max": round(max(v) * 1000),
            }
            for name, v in results.items()
        },
        "end_of_speech_to_asr_done_ms_p50": round(statistics.median(asr_ms)) if asr_ms else None,
        "asr_paths": sorted({p for p, _ in asr if p}),
        "stage_ms_after_endpoint_p50": {k: round(statistics.median(v)) for k, v in stage_ms.items()},
        "process_peak_rss_mb": round(rss_mb),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--devices", type=int, default=1)
    ap.add_argument("--out", default=None, help="write the JSON result here too")
    args = ap.parse_args()
    result = asyncio.run(run(args.turns, args.devices))
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
