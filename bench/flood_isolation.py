"""Flood isolation: another device's reply latency and audio with and without flooding devices.

    python -m bench.flood_isolation [--turns 10] [--flooders 3] [--close-after 20] [--out bench/results/flood_isolation.json]

The DeviceServer and one healthy virtual device run in this process; each flooder is its own process
(``tests.device.flooder``: hello, then junk text and binary frames as fast as its socket takes them), so
they compete for CPU like real clients. The healthy device asks for a 0.6 s reply ``--turns`` times before
and during the flood; latency is ``listen detect`` → first downlink audio frame. Also reported: audio gaps on
the healthy device (a frame that arrived after its decode queue ran dry), log bytes written at INFO during
the flood, and how the flooders were closed.

Targets (issue 10): flooded latency within 100 ms of the baseline, log under 5 MB, flooders closed with 1008.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class _ByteCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.bytes = 0
        self.lines = 0
        self.closed_at: list[float] = []  # time.time() of each "closing with 1008"

    def emit(self, record: logging.LogRecord) -> None:
        self.bytes += len(self.format(record)) + 1
        self.lines += 1
        if "closing with" in record.getMessage():
            self.closed_at.append(record.created)


async def _turns(dev: Any, n: int) -> tuple[list[float], int]:
    from firmware_bridge import protocol as P

    latencies, gaps = [], 0
    for _ in range(n):
        since = len(dev.events)
        t0 = time.monotonic()
        await dev.send_text("speak")
        first = await dev.wait_for(lambda e: e.kind == "audio", timeout=20, since=since)
        await dev.wait_json("tts", "stop", timeout=20, since=since)
        await dev.drain()
        gaps += sum(1 for e in dev.events[since:] if e.kind == "audio" and e.note == "underrun")
        latencies.append(first.t - t0)
        await dev.send_json(P.listen_start(dev.session_id))
    return latencies, gaps


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from firmware_bridge.audio import tone
    from firmware_bridge.virtual_device import VirtualDevice
    from server.config import Settings
    from server.voice.channel import DeviceChannel, DeviceInfo, SpeechChunk
    from server.voice.downlink import chunks_from
    from server.voice.transport import DeviceServer

    sentence = [SpeechChunk("reply", tone(440.0, 0.6), 16000)]

    class SpeakOnRequest:
        def __init__(self, info: DeviceInfo) -> None:
            self.channel: DeviceChannel | None = None
            self.tasks: set[asyncio.Task[Any]] = set()

        async def on_open(self, channel: DeviceChannel) -> None:
            self.channel = channel

        async def on_listen(self, state: str, mode: str | None, text: str | None) -> None:
            if state == "detect" and text == "speak" and self.channel is not None:
                task = asyncio.create_task(self.channel.play(chunks_from(sentence)))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

        async def on_audio(self, pcm: Any) -> None:
            return None

        async def on_abort(self, reason: str | None) -> None:
            return None

        async def on_close(self) -> None:
            return None

    # a long close delay keeps every flooder flooding through all measured turns
    settings = Settings(_env_file=None, host="127.0.0.1", ws_port=0, device_flood_close_s=args.close_after)
    server = DeviceServer(settings, SpeakOnRequest)
    await server.start()
    counter = _ByteCounter()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    try:
        dev = VirtualDevice(server.url, device_id="bf:00:00:00:00:01")
        await dev.connect()
        await dev.wake()
        baseline, base_gaps = await _turns(dev, args.turns)
        root.addHandler(counter)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        flooders = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.device.flooder",
                server.url,
                "60",
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for _ in range(args.flooders)
        ]
        for proc in flooders:
            assert proc.stdout is not None
            await asyncio.wait_for(proc.stdout.readline(), 30)  # "flooding"
        flood_start, flood_wall = time.monotonic(), time.time()
        flooded, flood_gaps = await _turns(dev, args.turns)
        all_flooding = all(p.returncode is None for p in flooders)
        outcomes = [(await asyncio.wait_for(p.communicate(), 90))[0].decode().split() for p in flooders]
        flood_seconds = time.monotonic() - flood_start
        await dev.close()
    finally:
        root.removeHandler(counter)
        await server.stop()
    return {
        "turns": args.turns,
        "flooders": args.flooders,
        "flood_close_after_s": args.close_after,
        "baseline_p50_ms": round(1000 * statistics.median(baseline), 1),
        "baseline_max_ms": round(1000 * max(baseline), 1),
        "flooded_p50_ms": round(1000 * statistics.median(flooded), 1),
        "flooded_max_ms": round(1000 * max(flooded), 1),
        "delta_p50_ms": round(1000 * (statistics.median(flooded) - statistics.median(baseline)), 1),
        "audio_gaps_baseline": base_gaps,
        "audio_gaps_flooded": flood_gaps,
        "all_flooders_active_while_measuring": all_flooding,
        "flood_frames_sent": [int(o[0]) for o in outcomes],
        "flooder_close_codes": [o[1] for o in outcomes],
        "server_closed_flooders_after_s": [round(t - flood_wall, 1) for t in counter.closed_at],
        "flood_seconds_until_all_flooders_exited": round(flood_seconds, 1),
        "log_bytes_during_flood": counter.bytes,
        "log_lines_during_flood": counter.lines,
        "load_avg_1m_at_end": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--flooders", type=int, default=3)
    parser.add_argument(
        "--close-after", type=float, default=20.0, help="XOPS_DEVICE_FLOOD_CLOSE_S (5 in service)"
    )
    parser.add_argument("--out", default="bench/results/flood_isolation.json")
    args = parser.parse_args()
    report = asyncio.run(_run(args))
    print(json.dumps(report, indent=2))
    if args.out:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
