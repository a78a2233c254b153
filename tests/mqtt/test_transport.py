"""MQTT+UDP transport end to end with the firmware-like virtual device: OTA, broker auth and ACL, hello → udp,
audio both ways on the shared session layer, goodbye both ways, hostile datagrams."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.audio import OpusEncoder, tone
from firmware_bridge.mqtt_device import MqttSettings, MqttVirtualDevice
from firmware_bridge.udp_audio import PacketSealer
from firmware_bridge.virtual_device import DeviceError
from server.mqtt.credentials import downlink_topic
from tests.mqtt.helpers import running_stack

A, B = "aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02"


async def test_ota_answers_mqtt_when_enabled_and_websocket_otherwise(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        answer = await stack.ota(A)
        assert "websocket" not in answer
        block = answer["mqtt"]
        assert block["client_id"].startswith("GID_") and "aa_bb_cc_00_00_01" in block["client_id"]
        assert block["publish_topic"].endswith("aa_bb_cc_00_00_01") and block["keepalive"] == 240
        other = (await stack.ota(B))["mqtt"]
        assert other["password"] != block["password"] and other["publish_topic"] != block["publish_topic"]
    async with running_stack(tmp_path, mqtt_enabled=False) as stack:
        answer = await stack.ota(A)
        assert "mqtt" not in answer and answer["websocket"]["url"].startswith("ws://")


async def test_forged_and_borrowed_credentials_are_refused(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        good = MqttSettings.from_ota(await stack.ota(A))
        b = MqttSettings.from_ota(await stack.ota(B))
        forged = [
            MqttSettings(**{**good.__dict__, "password": b.password}),  # someone else's password
            MqttSettings(**{**good.__dict__, "client_id": b.client_id}),  # A's password replayed as B
            MqttSettings(**{**good.__dict__, "username": b.username}),  # A's credentials, B's username
            MqttSettings(
                **{**good.__dict__, "password": ("y" if good.password[0] == "x" else "x") + good.password[1:]}
            ),
        ]
        for settings in forged:
            dev = MqttVirtualDevice(settings, device_id=A)
            with pytest.raises(DeviceError, match="refused"):
                await dev.connect_control()
        assert stack.service.gateway.devices == {}
        dev = MqttVirtualDevice(good, device_id=A)
        await dev.connect_control()  # the genuine ones still work
        assert list(stack.service.gateway.devices) == [A]
        await dev.close()


async def test_device_confined_to_its_own_topics(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        a = await stack.device(A)
        b = await stack.device(B)
        await asyncio.sleep(0.2)
        # A publishes a hello onto B's topic and onto the server's downlink of B: neither goes anywhere
        await a.publish_raw(b.mqtt_settings.publish_topic, '{"type":"hello","transport":"udp"}')
        await a.publish_raw(downlink_topic(B), '{"type":"notify","audio_url":"http://evil/x.ogg"}')
        # A tries to listen to everyone's downlink
        assert a._client is not None
        a._client.subscribe("devices/p2p/#")
        a._client.subscribe(downlink_topic(B))
        await asyncio.sleep(0.3)
        assert not stack.handlers, "no session may open from another device's topic"
        assert not b.received("notify") and not b.received("hello")
        await stack.service.gateway.send(
            B, {"type": "alert", "status": "s", "message": "for B", "emotion": "x"}
        )
        await b.wait_json("alert", timeout=3)
        await asyncio.sleep(0.2)
        assert not a.received("alert"), "A must not see B's messages"
        await a.close()
        await b.close()


async def test_session_over_mqtt_udp_audio_both_ways_and_goodbye(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        dev = await stack.device(A)
        assert not dev.subscribed
        hello = await dev.open_audio()
        assert hello.session_id and dev.udp_params is not None
        await dev.wake("你好小智")
        handler = stack.handler_for(A)
        await handler.wait_event("open")
        # uplink: 1 s of tone arrives decoded at the handler (the address is learned from the first datagram)
        await dev.send_pcm(tone(300.0, 1.0, 16000), realtime=True)  # paced like a microphone
        await asyncio.sleep(0.1)
        await dev.stop_listening()
        await handler.wait_event("played", timeout=10)
        stt = await dev.wait_json("stt", timeout=3)
        assert stt.message and int(stt.message["text"].split()[1]) >= 900  # "heard N ms"
        # downlink: paced Opus over UDP, tts start/sentence/stop over MQTT
        await dev.wait_json("tts", "stop", timeout=10)
        await dev.drain()
        echo_frames = len(dev.audio_events())
        assert echo_frames >= 10  # the echo came back over UDP
        await dev.start_listening()
        since = len(dev.events)
        await dev.send_text("speak")
        await dev.wait_json("tts", "stop", timeout=10, since=since)
        sentences = [
            e for e in dev.events[since:] if e.message and e.message.get("state") == "sentence_start"
        ]
        assert [e.message["text"] for e in sentences if e.message] == ["第1句", "第2句"]
        assert len(dev.audio_events()) - echo_frames >= 18 and not dev.audio_events("audio_overflow")
        # the server's goodbye closes the audio channel; the device's goodbye ends the session
        channel = stack.registry.get(A)
        assert channel is not None
        await channel.close()
        await dev.wait_json("goodbye", timeout=3)
        assert not dev.audio_open
        await handler.wait_event("close", timeout=3)
        assert stack.registry.get(A) is None
        await dev.open_audio()
        await stack.handlers[-1].wait_event("open")
        await dev.goodbye()
        await stack.handlers[-1].wait_event("close", timeout=3)
        await dev.close()


async def test_hostile_datagrams_dropped_without_touching_other_sessions(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        a, b = await stack.device(A), await stack.device(B)
        await a.wake()
        await b.wake()
        ha, hb = stack.handler_for(A), stack.handler_for(B)
        await ha.wait_event("audio")
        await hb.wait_event("audio")
        assert a.udp_params is not None and b.udp_params is not None
        packet = OpusEncoder(16000, 60).encode_pcm(tone(500.0, 0.06, 16000))[0]
        replay = PacketSealer(a.udp_params.key, a.udp_params.nonce)
        replayed = replay.seal(packet)  # sequence 1: long since used
        wrong_key = PacketSealer(bytes(16), b.udp_params.nonce)
        before_a = sum(1 for n, _ in ha.events if n == "audio")
        before_b = sum(1 for n, _ in hb.events if n == "audio")
        drops = dict(stack.service.udp.drops)
        garbage = [
            b"",
            b"\x01\x00",
            bytes(15),
            b"\x02" + replayed[1:],  # wrong type
            replayed + b"\x00",  # wrong length
            replayed,  # replay
            np.random.default_rng(1).bytes(200),  # noise
        ]
        for g in garbage:
            await a.send_raw(g)
        for seq in range(50):  # wrong key on B's session: noise that must not lock B out
            wrong_key.sequence = 10_000 + seq
            await b.send_raw(wrong_key.seal(packet))
        for _ in range(100):  # the server reads its one socket in order: A's garbage first, then B's noise
            dropped = sum(stack.service.udp.drops.values()) - sum(drops.values())
            if dropped >= len(garbage) + 45:
                break
            await asyncio.sleep(0.05)  # usually handled within milliseconds; up to 5 s under load
        await asyncio.sleep(0.3)
        dropped = sum(stack.service.udp.drops.values()) - sum(drops.values())
        assert sum(1 for n, _ in ha.events if n == "audio") == before_a
        assert dropped >= len(garbage) + 45  # a wrong key's noise may rarely pass the Opus shape check
        # both sessions still carry audio
        await a.send_pcm(tone(300.0, 0.5, 16000), realtime=False)
        await b.send_pcm(tone(300.0, 0.5, 16000), realtime=False)
        for _ in range(100):  # usually at once; up to 5 s on a loaded machine
            got_a = sum(1 for n, _ in ha.events if n == "audio") - before_a
            got_b = sum(1 for n, _ in hb.events if n == "audio") - before_b
            if got_a >= 8 and got_b >= 8:
                break
            await asyncio.sleep(0.05)
        assert got_a >= 8 and got_b >= 8, (got_a, got_b)
        await a.close()
        await b.close()


async def test_reconnect_takes_over_and_the_old_connection_leaves_nothing_behind(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        first = await stack.device(A)
        await first.open_audio()
        settings = first.mqtt_settings
        second = MqttVirtualDevice(settings, device_id=A)  # same client id: the firmware after a Wi-Fi drop
        await second.connect_control()
        await asyncio.sleep(0.5)
        for _ in range(90):  # the takeover reaches the server via the broker: up to 5 s under load
            if stack.registry.get(A) is None:
                break
            await asyncio.sleep(0.05)
        assert list(stack.service.gateway.devices) == [A]
        assert stack.registry.get(A) is None  # the old connection's voice session ended with it
        await second.open_audio()
        assert stack.registry.get(A) is not None
        assert await stack.service.gateway.send(
            A, {"type": "alert", "status": "s", "message": "m", "emotion": "e"}
        )
        await second.wait_json("alert", timeout=3)
        await second.close()
        await first.close()


async def test_device_mcp_and_barge_in_over_mqtt(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        dev = await stack.device(A)
        await dev.wake()
        handler = stack.handler_for(A)
        await handler.wait_event("open")
        channel = stack.registry.get(A)
        assert channel is not None
        # the device's own MCP tools, called over MQTT like over WebSocket
        names = [t["name"] for t in await channel.device_tools()]
        assert "self.audio_speaker.set_volume" in names
        await channel.call_device_tool("self.audio_speaker.set_volume", {"volume": 33})
        assert dev.mcp.state.volume == 33
        # barge-in: abort while the server speaks stops the audio at once and still ends with tts stop
        since = len(dev.events)
        await dev.send_text("speak")
        await dev.wait_json("tts", "sentence_start", timeout=5, since=since)
        await asyncio.sleep(0.3)
        await dev.abort("wake_word_detected")
        await dev.wait_json("tts", "stop", timeout=3, since=since)
        played = await handler.wait_event("played", timeout=5)
        assert played.aborted and played.frames_sent < 20  # 2 sentences would be 22 frames
        assert ("abort", "wake_word_detected") in handler.events
        await dev.close()


async def test_credentials_of_a_device_no_longer_allowed_are_refused(tmp_path: Path) -> None:
    allowed = {A, B}  # token mode: activated devices (a revoked one keeps its old credentials in NVS)
    async with running_stack(tmp_path, device_allowed=lambda d: d in allowed) as stack:
        settings = MqttSettings.from_ota(await stack.ota(A))
        dev = MqttVirtualDevice(settings, device_id=A)
        await dev.connect_control()
        await dev.close()
        allowed.discard(A)
        again = MqttVirtualDevice(settings, device_id=A)
        with pytest.raises(DeviceError, match="refused"):
            await again.connect_control()
        assert A not in stack.service.gateway.devices
