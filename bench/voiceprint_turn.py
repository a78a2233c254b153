"""What voiceprint identification adds to a turn: end of speech → first downlink audio, with and without it.

    python -m bench.voiceprint_turn [--turns 20] [--out bench/results/voiceprint_turn.json]

The same measurement as bench.voice_latency (recorded command in real time as 60 ms Opus frames, trailing
silence trimmed, latency = first downlink audio frame after the last frame with speech) for "开始播报日志",
with yesterday's summary present so nothing is analysed on demand. Two modes alternate turn by turn on the
same device and server:

- single: nobody enrolled, so the resolver skips identification (single-user mode);
- enrolled: the commands voice is enrolled as the default owner, so every utterance (wake-word pre-roll
  included: each turn starts with a wake) is identified, in parallel with ASR.

Target: the difference ≈ 0. Also reports the identification time itself, from the identifier's DEBUG log
line during the turns and timed directly on 3 s of audio with the server idle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.instance import isolated_settings, write_summary
from bench.mining import machine
from bench.voice_latency import COMMANDS, REPO, SUMMARY, one_turn, percentile, trim_trailing_silence
from firmware_bridge.audio import read_wav
from firmware_bridge.virtual_device import VirtualDevice
from server.app import App
from server.dialogue.skill_table import GUEST_REPLY
from server.dialogue.trace import TurnTrace
from server.voiceprint.identify import Identifier

RATE = 16000
IDENT_LOGGER = "server.voiceprint.identify"
IDENT_MS = re.compile(r"voiceprint owner=(\S+) .* (\d+) ms$")


class IdentLog(logging.Handler):
    """Collects (owner, ms) from the identifier's DEBUG line "voiceprint owner=… NN ms"."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        m = IDENT_MS.search(record.getMessage())
        if m:
            self.seen.append((m.group(1), float(m.group(2))))


def wav(name: str) -> np.ndarray:
    pcm, rate = read_wav(COMMANDS / name)
    if rate != RATE:
        raise ValueError(f"{name}: expected {RATE} Hz, got {rate}")
    return pcm


def stats_ms(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50) * 1000),
        "p95": round(percentile(values, 95) * 1000),
        "min": round(min(values) * 1000),
        "max": round(max(values) * 1000),
    }


async def run(turns: int) -> dict[str, Any]:
    host = machine()  # load average before we add our own
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ident_log = IdentLog()
    ident_logger = logging.getLogger(IDENT_LOGGER)
    ident_logger.setLevel(logging.DEBUG)
    ident_logger.addHandler(ident_log)
    ident_logger.propagate = False  # collected, not printed
    with tempfile.TemporaryDirectory() as tmp:
        settings = isolated_settings(Path(tmp))
        write_summary(settings, SUMMARY)
        app = App(settings)
        await app.start(run_pipeline=False)
        assert app.voiceprints is not None and app.services is not None
        traces: list[TurnTrace] = []
        app.services.turn_listeners.append(traces.append)
        store = app.voiceprints
        # embedded once; switching modes then only writes or deletes the stored voiceprint
        utterances = await asyncio.to_thread(
            store.embed_clips, [wav(f"enroll_phrase_{i}.wav") for i in (1, 2, 3)]
        )
        owner_id = store.create_owner(settings.default_owner).id

        def set_mode(mode: str) -> None:
            if mode == "enrolled":
                store.enrol_embedded(owner_id, utterances)
            else:
                store.delete_voiceprint(owner_id)

        preroll = wav("wake.wav")
        speech = trim_trailing_silence(wav("broadcast.wav"), RATE)
        url = f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/"
        lat: dict[str, list[float]] = {"single": [], "enrolled": []}
        asr_ms: dict[str, list[float]] = {"single": [], "enrolled": []}
        # transcript ready → intent routed: in between the turn waits for the speaker (identification)
        wait_ms: dict[str, list[float]] = {"single": [], "enrolled": []}
        ident_ms: list[float] = []
        problems: list[str] = []
        try:
            async with VirtualDevice(url, device_id="be:00:00:00:00:02") as device:
                for i in range(turns):
                    order = ("single", "enrolled") if i % 2 == 0 else ("enrolled", "single")
                    for mode in order:
                        set_mode(mode)
                        seen, n_traces = len(ident_log.seen), len(traces)
                        # a fresh wake each turn, so the pre-roll is part of every identified utterance
                        await device.stop_listening()
                        await device.wake(preroll=preroll)
                        since = len(device.events)
                        lat[mode].append(await one_turn(device, speech, RATE))
                        heard = device.received("tts", "sentence_start")
                        first = next(
                            (e.message["text"] for e in heard if device.events.index(e) >= since), None
                        )
                        if first == GUEST_REPLY[0]:
                            problems.append(f"turn {i} {mode}: answered as a guest")
                        idents = ident_log.seen[seen:]
                        if mode == "single" and idents:
                            problems.append(f"turn {i} single: identification ran")
                        if mode == "enrolled":
                            if not idents:
                                problems.append(f"turn {i} enrolled: no identification logged")
                            ident_ms += [ms for _, ms in idents]
                        for tr in traces[n_traces:]:
                            asr, intent = tr.ms("asr"), tr.ms("intent")
                            if asr is not None:
                                asr_ms[mode].append(asr)
                                if intent is not None:
                                    wait_ms[mode].append(intent - asr)
            # identification alone, server idle: 3 s of the owner's voice (pre-roll + command)
            set_mode("enrolled")
            three_s = np.concatenate([preroll, speech])[: 3 * RATE]
            identifier = Identifier(store)
            direct = []
            for _ in range(5):
                t = time.perf_counter()
                result = await identifier.identify(three_s)
                direct.append((time.perf_counter() - t) * 1000)
            identifier.close()
            direct_owner = result.identification.owner_id
        finally:
            await app.stop()
            ident_logger.removeHandler(ident_log)

    single, enrolled = stats_ms(lat["single"]), stats_ms(lat["enrolled"])
    return {
        "bench": "voiceprint_turn",
        "machine": host,
        "when": datetime.now().isoformat(timespec="seconds"),
        "turns_per_mode": turns,
        "order": "alternating turn by turn (single/enrolled, then enrolled/single), same device",
        "latency_ms": {"single_user": single, "enrolled": enrolled},
        "added_by_identification_ms": {
            "p50": enrolled.get("p50", 0) - single.get("p50", 0),
            "p95": enrolled.get("p95", 0) - single.get("p95", 0),
        },
        "asr_ms_after_endpoint_p50": {
            k: round(statistics.median(v)) if v else None for k, v in asr_ms.items()
        },
        "asr_done_to_intent_ms_p50": {
            k: round(statistics.median(v)) if v else None for k, v in wait_ms.items()
        },
        "identify_ms_in_turns": {
            "n": len(ident_ms),
            "p50": round(float(np.percentile(ident_ms, 50))) if ident_ms else None,
            "p95": round(float(np.percentile(ident_ms, 95))) if ident_ms else None,
            "max": round(max(ident_ms)) if ident_ms else None,
        },
        "identify_ms_direct_3s_idle": {
            "runs": [round(x) for x in direct],
            "median": round(statistics.median(direct)),
            "identified_owner_id": direct_owner,
            "expected_owner_id": owner_id,
        },
        "problems": problems,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=20, help="turns per mode")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "voiceprint_turn.json"))
    args = ap.parse_args()
    result = asyncio.run(run(args.turns))
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
