"""Issue 14 acceptance end to end: a bad rollout → a Tencent Cloud alarm through the webhook → the owner's robot,
connected over MQTT but idle, gets ``notify``, fetches and decodes the Ogg-Opus and shows the cause sentence as a
subtitle; every step is on the case timeline. The robot then wakes over MQTT+UDP, hears the pending case first
and approves the rollback by voice with the challenge, on the same session layer as WebSocket."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import numpy as np

from agents.sample_day import generate_day
from firmware_bridge.mqtt_device import MqttSettings, MqttVirtualDevice, fetch_ota
from tests.alerts.bodies import tke_pod_alarm
from tests.e2e.test_alert_rollback_e2e import start_executor
from tests.e2e.voice import RATE, challenge_digits, command, enrolment_clips, one_to_nine

TZ = ZoneInfo("Asia/Shanghai")
DEVICE = "aa:bb:cc:14:14:01"


async def speak(device: MqttVirtualDevice, pcm: np.ndarray, timeout: float = 60) -> list[str]:
    """Say something in real time, as the firmware's microphone does, and return the answer's sentences.
    (Over MQTT+UDP, ``listen start`` and the audio travel different paths; a burst of audio sent faster than
    real time overtakes ``listen start`` and counts as wake-word pre-roll, on firmware as here.)"""
    since = len(device.events)
    await device.send_pcm(np.concatenate([pcm, np.zeros(RATE, dtype=np.int16)]), RATE, realtime=True)
    await device.wait_json("tts", "stop", timeout=timeout, since=since)
    return [
        e.message["text"]
        for e in device.events[since:]
        if e.message and e.message.get("state") == "sentence_start"
    ]


async def test_alarm_reaches_idle_mqtt_robot_by_notify_then_voice_approval(start_app) -> None:
    runner, calls, port = await start_executor()
    try:
        app = await start_app(
            executor_url=f"http://127.0.0.1:{port}/rollback",
            executor_dry_run=False,
            executor_token="exec-token",
            mqtt_enabled=True,
            mqtt_port=0,
            udp_port=0,
            device_owners=f"{DEVICE}=default",
        )
        s = app.settings
        day = (datetime.now(TZ).date() - timedelta(days=1)).isoformat()
        gen = generate_day(s.logs_path, day, lines=20_000, seed=11, owner=s.default_owner)
        await app.scheduler.run_owner(s.default_owner, day)
        incident = next(i for i in gen.ground_truth["incidents"] if i["type"] == "image_pull_failure")
        owner = app.voiceprints.create_owner(s.default_owner, can_approve=True)
        await asyncio.to_thread(app.voiceprints.enrol, owner.id, enrolment_clips())

        # boot: OTA (mqtt block, no websocket block), then the permanent MQTT connection; nobody talks
        answer = await fetch_ota(
            f"http://127.0.0.1:{app.http_port}/xiaozhi/ota/", DEVICE, str(uuid.uuid4()), version="2.5.1"
        )
        assert "mqtt" in answer and "websocket" not in answer
        device = MqttVirtualDevice(MqttSettings.from_ota(answer), device_id=DEVICE)
        await device.connect_control()
        try:
            first = datetime.fromtimestamp(incident["start_ts"] + 300, TZ).strftime("%Y-%m-%d %H:%M:%S")
            body = tke_pod_alarm(
                "sess-mqtt-1",
                pod=f"{incident['workload']}-7d9f8c6b5-x2x4q",
                workload=incident["workload"],
                namespace=incident["namespace"],
                first=first,
            )
            hook = f"http://127.0.0.1:{app.http_port}/webhooks/tencent/{app.webhook_token}"
            posted = time.monotonic()
            async with aiohttp.ClientSession() as http, http.post(hook, json=body) as resp:
                assert resp.status == 200
            note = await device.wait_notification(timeout=60)
            assert note.ok, note.error
            assert note.first_byte_at is not None
            print(f"alert POST -> first notify audio byte: {note.first_byte_at - posted:.2f} s")
            subtitles = [str(sub["text"]) for sub in note.subtitles]
            said = "".join(subtitles)
            details = incident["details"]
            assert incident["workload"] in said and details["bad_tag"] in said, subtitles
            assert subtitles[-1].endswith("是否需要回滚？")
            assert len(note.pcm) / 16000 > 2.0  # it is speech, not a blip
            assert not device.audio_open  # notify never opens the audio channel
            (case,) = app.cases.list_cases()
            for _ in range(50):
                pushes = [e for e in app.cases.timeline(case.id) if getattr(e, "actor", "") == "push"]
                if len(pushes) >= 3:
                    break
                await asyncio.sleep(0.1)
            kinds = [e.detail.get("event") for e in pushes]  # type: ignore[union-attr]
            assert kinds[:3] == ["sent", "fetched", "streamed"], kinds
            assert app.delivery.pending(), (
                "a notify is not a conversation: the case stays queued for the wake"
            )

            # the owner wakes the robot: the pending case comes first, then the rollback is approved by voice
            since = len(device.events)
            await device.wake(preroll=command("wake.wav"))
            await device.wait_json("tts", "stop", timeout=60, since=since)
            spoken = "".join(
                e.message["text"]
                for e in device.events[since:]
                if e.message and e.message.get("state") == "sentence_start"
            )
            assert incident["workload"] in spoken and "回滚" in spoken, spoken
            await device.drain()
            # the recordings say 一…九 (see the rollback e2e)
            app.challenges.draw_digits = lambda lo, hi: "123456789"
            app.challenges.ttl_s = (
                300.0  # the spoken read-back under a loaded CI machine; expiry is unit-tested
            )
            prompt = await speak(device, command("rollback_yes.wav"))
            assert challenge_digits(prompt) == "123456789", prompt
            verdict = await speak(device, one_to_nine(str(s.whisper_path)))
            heard = [e.message.get("text") for e in device.received("stt") if e.message]
            assert any("验证通过" in t for t in verdict), (verdict, heard)
            for _ in range(100):
                if calls:
                    break
                await asyncio.sleep(0.1)
            assert len(calls) == 1 and incident["workload"] in str(calls[0]["body"])

            # ladder rung 1: another alarm while the robot is in its MQTT+UDP session is spoken there directly
            other = next(i for i in gen.ground_truth["incidents"] if i["workload"] != incident["workload"])
            await device.drain()
            notes_before, since = len(device.notifications), len(device.events)
            body = tke_pod_alarm(
                "sess-mqtt-2",
                pod=f"{other['workload']}-5c4b3a2d1-q9w8e",
                workload=other["workload"],
                namespace=other["namespace"],
                first=datetime.fromtimestamp(other["start_ts"] + 300, TZ).strftime("%Y-%m-%d %H:%M:%S"),
            )
            async with aiohttp.ClientSession() as http, http.post(hook, json=body) as resp:
                assert resp.status == 200
            await device.wait_json("tts", "stop", timeout=60, since=since)
            direct = "".join(
                e.message["text"]
                for e in device.events[since:]
                if e.message and e.message.get("state") == "sentence_start"
            )
            assert other["workload"] in direct, direct
            assert len(device.notifications) == notes_before and not device.received("alert")
        finally:
            await device.close()
    finally:
        await runner.cleanup()
