"""Issue 10.3 / 15.1 end to end: queued announcements reach only their owner, once they were heard.

Two enrolled owners share the robot; an alarm from bob's cloud account is queued. A device that connects and wakes
without anybody speaking (any Device-Id) hears nothing, and its disconnect clears nothing — the measured fault was
one 4-second connection clearing 5,000. When bob speaks, his own question is answered first, then his alert is
spoken, and the announcement is recorded as delivered to that device and his voice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from firmware_bridge.audio import read_wav
from firmware_bridge.virtual_device import VirtualDevice
from server.alerts.tencent import parse_tencent
from tests.alerts.bodies import tke_pod_alarm
from tests.e2e.voice import RATE, enrolment_clips
from tests.paths import AUDIO

F2 = AUDIO / "speakers" / "espeak_f2"
BOB_UIN = "200000000002"


def sentences(events: list) -> list[str]:
    return [e.message["text"] for e in events if e.message and e.message.get("state") == "sentence_start"]


def wav(path: Path) -> np.ndarray:
    pcm, rate = read_wav(path)
    assert rate == RATE
    return pcm


async def test_queued_alert_reaches_only_its_owner_after_his_question(start_app) -> None:
    app = await start_app()
    alice = app.voiceprints.create_owner("alice", can_approve=True)
    await asyncio.to_thread(app.voiceprints.enrol, alice.id, enrolment_clips())
    bob = app.voiceprints.create_owner("bob", can_approve=True)
    await asyncio.to_thread(app.voiceprints.enrol, bob.id, [wav(F2 / f"enroll_{i}.wav") for i in (1, 2, 3)])
    app.accounts.bind("bob", [f"uin:{BOB_UIN}"])

    body = tke_pod_alarm("bob-queued-1", pod="pay-7d9f-abcde", workload="pay", namespace="shop")
    body["alarmObjInfo"]["uin"] = BOB_UIN
    alert = parse_tencent(body, tz="Asia/Shanghai")
    assert await app.alerts.accept([alert], source="tencent", session_id=alert.session_id) == "accepted"
    for _ in range(200):
        if app.delivery.pending():
            break
        await asyncio.sleep(0.05)
    (queued,) = app.delivery.pending()
    assert queued.owner == "bob" and app.cases.get_case(queued.case_id).owner == "bob"

    url = f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/"
    async with VirtualDevice(url, device_id="aa:bb:cc:00:00:01") as stranger:
        await stranger.wake()
        await asyncio.sleep(4.0)  # nobody speaks: an unknown listener
        assert stranger.received("tts", "start") == []
    await asyncio.sleep(0.3)
    assert [a.id for a in app.delivery.pending()] == [queued.id]  # the drop cleared nothing

    async with VirtualDevice(url, device_id="aa:bb:cc:00:00:02") as device:
        await device.wake(preroll=wav(F2 / "enroll_1.wav"))
        since = len(device.events)
        await device.send_pcm(
            np.concatenate([wav(F2 / "probe_broadcast.wav"), np.zeros(RATE, dtype=np.int16)]),
            RATE,
            realtime=False,
        )
        first = await device.wait_json("tts", "stop", timeout=90, since=since)  # his own question's answer
        after = device.events.index(first) + 1
        await device.wait_json("tts", "stop", timeout=90, since=after)  # then his alert
        answer = sentences(device.events[since:after])
        alert_words = "".join(sentences(device.events[after:]))
        assert answer and "告警" not in answer[0]
        assert alert_words.startswith("有1条新告警。") and "pay" in alert_words
        for _ in range(100):
            if not app.delivery.pending():
                break
            await asyncio.sleep(0.05)
    assert app.delivery.pending() == []
    record = app.delivery.delivery_record(queued.id)
    assert record is not None and record["device"] == "aa:bb:cc:00:00:02" and record["voice"] == "voice:bob"
