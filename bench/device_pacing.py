"""Downlink pacing under load: N virtual devices receive speech at the same time through DeviceServer.

    python -m bench.device_pacing [--devices 20] [--sentences 3] [--seconds 2.0] [--out bench/results/device_pacing.json]

The server runs in this process; the devices run in a child process (their own event loop), so the
measurement is not the devices' CPU competing with the pacer in one loop. Reports:

- server side: worst frame lateness behind the pacer's absolute schedule, worst queue depth (frames ahead),
  underruns (the device queue ran dry mid-utterance);
- device side: worst lateness of a frame's arrival behind the ideal schedule (first frame + (k-4)·60 ms),
  gaps (frame arrived after the decode queue ran dry), overflow drops (more than the firmware's 40 packets);
- dropped sessions: devices that failed the handshake or did not receive every frame and a tts stop.

Targets: no dropped sessions, no device underruns/overflows, max lateness < 100 ms (the 5-frame pre-buffer
covers 300 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

FRAME_S = 0.06
PREBUFFER = 5


def _devices_main(url: str, devices: int, expected_frames: int, timeout: float, out: Any) -> None:
    from firmware_bridge.virtual_device import VirtualDevice

    arrived = 0
    go = asyncio.Event()

    def checked_in() -> None:
        nonlocal arrived
        arrived += 1
        if arrived == devices:
            go.set()

    async def one(i: int) -> dict[str, Any]:
        dev = VirtualDevice(url, device_id=f"be:00:00:00:00:{i:02x}")
        try:
            try:
                await dev.connect()
                await dev.wake()
            finally:
                checked_in()  # a failed device must not hold the others back
            await go.wait()  # every device asks at the same moment
            since = len(dev.events)
            await dev.send_text("speak")
            await dev.wait_json("tts", "stop", timeout=timeout, since=since)
        except Exception as exc:
            await dev.close()
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        await dev.close()
        audio = [e for e in dev.events if e.kind == "audio"]
        lateness = 0.0
        if audio:
            t0 = audio[0].t
            for k, e in enumerate(audio):
                due = t0 + max(0, k - (PREBUFFER - 1)) * FRAME_S
                lateness = max(lateness, e.t - due)
        return {
            "ok": len(audio) == expected_frames,
            "frames": len(audio),
            "max_lateness_s": lateness,
            "gaps": sum(1 for e in audio if e.note == "underrun"),
            "overflows": len(dev.audio_events("audio_overflow")),
        }

    async def main() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(one(i) for i in range(devices))))

    out.put(asyncio.run(main()))


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from firmware_bridge.audio import tone
    from server.config import Settings
    from server.voice.channel import DeviceChannel, DeviceInfo, SpeechChunk
    from server.voice.downlink import PacerStats, chunks_from
    from server.voice.transport import DeviceServer

    stats: list[PacerStats] = []
    sentences = [
        SpeechChunk(f"sentence {i}", tone(300.0 + 50 * i, args.seconds), 16000) for i in range(args.sentences)
    ]

    class SpeakOnRequest:
        def __init__(self, info: DeviceInfo) -> None:
            self.channel: DeviceChannel | None = None
            self.tasks: set[asyncio.Task[Any]] = set()

        async def on_open(self, channel: DeviceChannel) -> None:
            self.channel = channel

        async def on_listen(self, state: str, mode: str | None, text: str | None) -> None:
            if state == "detect" and text == "speak":
                task = asyncio.create_task(self._speak())
                self.tasks.add(task)

        async def _speak(self) -> None:
            assert self.channel is not None
            await self.channel.play(chunks_from(sentences))
            stats.append(self.channel.last_play_stats)  # type: ignore[attr-defined]

        async def on_audio(self, pcm: Any) -> None:
            return None

        async def on_abort(self, reason: str | None) -> None:
            return None

        async def on_close(self) -> None:
            return None

    settings = Settings(_env_file=None, host="127.0.0.1", ws_port=0)
    server = DeviceServer(settings, SpeakOnRequest)
    await server.start()
    frames_per_sentence = -(-round(args.seconds * 16000) // 960)
    expected = frames_per_sentence * args.sentences
    timeout = expected * FRAME_S + 30
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_devices_main, args=(server.url, args.devices, expected, timeout, queue))
    started = time.perf_counter()
    proc.start()
    try:
        results: list[dict[str, Any]] = await asyncio.to_thread(queue.get, True, timeout + 60)
    finally:
        await asyncio.to_thread(proc.join, 10)
        await server.stop()
    elapsed = time.perf_counter() - started
    ok = [r for r in results if r["ok"] and not r["overflows"]]
    return {
        "devices": args.devices,
        "sentences": args.sentences,
        "seconds_per_sentence": args.seconds,
        "frames_per_device": expected,
        "dropped_sessions": args.devices - len(ok),
        "errors": sorted({r["error"] for r in results if "error" in r}),
        "server_max_lateness_ms": round(1000 * max((s.max_lateness_s for s in stats), default=0.0), 1),
        "server_max_ahead_frames": round(max((s.max_ahead_frames for s in stats), default=0.0), 2),
        "server_underruns": sum(s.underruns for s in stats),
        "device_max_lateness_ms": round(
            1000 * max((r.get("max_lateness_s", 0.0) for r in results), default=0.0), 1
        ),
        "device_gaps": sum(r.get("gaps", 0) for r in results),
        "device_overflows": sum(r.get("overflows", 0) for r in results),
        "wall_seconds": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--sentences", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--out", default="bench/results/device_pacing.json")
    args = parser.parse_args()
    report = asyncio.run(_run(args))
    print(json.dumps(report, indent=2))
    if args.out:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
