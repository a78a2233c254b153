"""Every shared spoken command through the real socket: Opus uplink → VAD → Whisper → intent."""

from __future__ import annotations

import asyncio

import numpy as np

from firmware_bridge.audio import read_wav
from firmware_bridge.virtual_device import VirtualDevice
from server.dialogue.trace import TurnTrace
from tests.paths import COMMANDS

EXPECTED: dict[str, tuple[str, str | None]] = {
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
    "long.wav": ("chat", None),
    "enroll_phrase_1.wav": ("enroll_voiceprint", None),  # "小智请记住我的声音" asks to be remembered
    "enroll_phrase_2.wav": ("chat", None),
    "enroll_phrase_3.wav": ("chat", None),
}


async def test_spoken_commands_reach_the_right_intent(start_app) -> None:
    app = await start_app()
    traces: list[TurnTrace] = []
    app.services.turn_listeners.append(traces.append)
    got: dict[str, tuple[str, str | None]] = {}
    for name in EXPECTED:  # a fresh session per command: no dialogue state carries over (e.g. enrolment)
        async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
            await device.wake()
            before = len(traces)
            pcm, rate = read_wav(COMMANDS / name)
            await device.send_pcm(np.concatenate([pcm, np.zeros(rate, dtype=np.int16)]), rate, realtime=False)
            # the answer starts → we know the intent; abort instead of listening to all of it
            await device.wait_json("tts", "start", timeout=60)
            await device.abort()
            await device.wait_json("tts", "stop", timeout=10)
            for _ in range(200):
                if len(traces) > before:
                    break
                await asyncio.sleep(0.05)
            intent = next((data for stage, _, data in traces[-1].stages if stage == "intent"), {})
            got[name] = (intent.get("intent", "none"), intent.get("args", {}).get("kind"))
    right = [n for n, want in EXPECTED.items() if got[n] == want]
    wrong = {n: (got[n], EXPECTED[n]) for n in EXPECTED if got[n] != EXPECTED[n]}
    assert len(right) >= 15, f"only {len(right)}/16 right; wrong: {wrong}"
