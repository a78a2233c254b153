"""DeviceServer end to end with real sockets and real Opus: handshake, message types, framing, clients."""

import asyncio
import json

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from firmware_bridge.audio import OpusEncoder, tone
from firmware_bridge.virtual_device import VirtualDevice
from server.voice.registry import DeviceOfflineError
from server.voice.transport import connect_auth
from tests.device.helpers import running_server, tone_sentences
from tests.device.test_audio import dominant_hz


async def test_firmware_handshake_hello_before_mcp_and_device_info() -> None:
    async with running_server(downlink_sample_rate=24000) as h:
        dev = VirtualDevice(h.url, device_id="AA:BB:CC:00:00:01", client_id="c-1", protocol_version=1)
        hello = await dev.connect()
        await dev.wait_for(
            lambda e: e.message is not None and e.message.get("payload", {}).get("method") == "tools/list"
        )
        incoming = [e.message for e in dev.events if e.direction == "in" and e.kind == "json"]
        assert incoming[0] == {
            "type": "hello",
            "transport": "websocket",
            "session_id": hello.session_id,
            "audio_params": {"format": "opus", "sample_rate": 24000, "channels": 1, "frame_duration": 60},
        }
        methods = [m["payload"].get("method") for m in incoming if m["type"] == "mcp"]
        assert methods[:3] == ["initialize", "notifications/initialized", "tools/list"]
        assert all(isinstance(m["payload"].get("id", 0), int) for m in incoming if m["type"] == "mcp")
        handler = h.handler_for("aa:bb:cc:00:00:01")
        await handler.wait_event("open")
        info = handler.info
        assert (info.device_id, info.client_id, info.session_id) == (
            "aa:bb:cc:00:00:01",
            "c-1",
            hello.session_id,
        )
        assert info.protocol_version == 1 and info.features["mcp"] is True
        assert [d.device_id for d in h.registry.online()] == ["aa:bb:cc:00:00:01"]
        await dev.close()
        await asyncio.wait_for(handler.closed.wait(), 5)
        assert h.registry.online() == []


async def test_listen_modes_detect_stop_and_abort_reach_the_handler() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="aa:00:00:00:00:02")
        await dev.connect()
        handler = h.handler_for("aa:00:00:00:00:02")
        await dev.wake("你好小智")  # pre-roll frames, listen detect, listen start auto
        await handler.wait_event("listen")
        await dev.start_listening("realtime")
        await dev.start_listening("manual")
        await dev.send_pcm(tone(500.0, 0.3), realtime=False)
        await dev.stop_listening()  # the test handler answers a stop with stt + echo
        stt = await dev.wait_json("stt")
        await dev.wait_json("tts", "stop")
        await dev.abort("wake_word_detected")
        await dev.wait_json("tts", "stop", since=dev.events.index(stt) + 3)
        await handler.wait_event("abort")
        listens = [v for n, v in handler.events if n == "listen"]
        assert listens == [
            ("detect", None, "你好小智"),
            ("start", "auto", None),
            ("start", "realtime", None),
            ("start", "manual", None),
            ("stop", None, None),
        ]
        names = handler.names()
        # the ~2 s wake-word pre-roll arrives as audio before the detect
        assert names.index("audio") < names.index("listen")
        preroll = sum(v for n, v in handler.events[: names.index("listen")] if n == "audio")
        assert preroll >= 32000
        assert ("abort", "wake_word_detected") in handler.events
        assert stt.message["text"] == "heard 300 ms"  # 0.3 s = 5 frames of 60 ms
        assert dev.transcript() == [("user", "heard 300 ms"), ("assistant", "echo")]
        channel = handler.channel
        assert channel is not None and channel.listen_mode == "manual" and not channel.listening
        await dev.close()


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_binary_framing_both_directions(version: int) -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id=f"aa:00:00:00:01:0{version}", protocol_version=version)
        await dev.connect()
        handler = h.handler_for(dev.config.device_id)
        assert handler.info.protocol_version == version
        await dev.start_listening()
        sent = await dev.send_pcm(tone(440.0, 0.6), realtime=False)
        assert sent == 10
        await dev.send_text("echo")
        await dev.wait_json("tts", "stop", timeout=10)
        assert sum(v for n, v in handler.events if n == "audio") == 10 * 960
        got = dev.received_pcm()
        assert len(got) == 10 * 960
        assert abs(dominant_hz(got[1600:], 16000) - 440.0) < 10
        assert not dev.audio_events("invalid") and not dev.audio_events("audio_dropped")
        await dev.close()


async def test_protocol_version_header_wins_over_hello_version() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="aa:00:00:00:02:01", protocol_version=3)
        dev.config.hello = {
            "type": "hello",
            "version": 1,
            "transport": "websocket",
            "features": {"mcp": True},
        }
        await dev.connect()
        assert h.handler_for("aa:00:00:00:02:01").info.protocol_version == 3
        await dev.close()


async def test_20_40_ms_frames_dtx_and_empty_frames_are_tolerated() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="aa:00:00:00:03:01", frame_ms=20)
        await dev.connect()
        handler = h.handler_for("aa:00:00:00:03:01")
        await dev.start_listening()
        await dev.send_pcm(tone(300.0, 0.2), realtime=False)  # 10 x 20 ms
        for packet in OpusEncoder(16000, 40).encode_pcm(tone(300.0, 0.2)):  # 5 x 40 ms
            await dev.send_opus(packet)
        await dev.send_opus(b"")  # the browser's "end of recording"
        await dev.send_opus(b"\x58")  # DTX: 60 ms of silence in one byte
        await dev.send_text("mark")
        await handler.wait_event("listen")
        await asyncio.sleep(0.1)
        sizes = [v for n, v in handler.events if n == "audio"]
        assert sizes == [320] * 10 + [640] * 5 + [960]
        assert h.server.bad_frames == 0
        await dev.close()


async def test_trailing_slash_optional_and_other_paths_refused() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url.rstrip("/"), device_id="aa:00:00:00:04:01")
        assert (await dev.connect()).session_id
        await dev.close()
        with pytest.raises(InvalidStatus) as err:
            async with connect(h.url.replace("/xiaozhi/v1/", "/other")):
                pass
        assert err.value.response.status_code == 404


async def test_browser_client_query_auth_and_minimal_hello() -> None:
    browser_hello = {
        "type": "hello",
        "device_id": "aa:00:00:00:05:01",
        "device_name": "网页测试",
        "device_mac": "aa:00:00:00:05:01",
        "token": "tok",
        "features": {"mcp": True},
    }
    async with running_server(auth_mode="token", device_tokens="tok") as h:
        dev = VirtualDevice(
            h.url, device_id="aa:00:00:00:05:01", auth="query", token="tok", hello=browser_hello
        )
        hello = await asyncio.wait_for(dev.connect(), 5)  # the page waits 5 s for a hello with session_id
        assert hello.session_id
        handler = h.handler_for("aa:00:00:00:05:01")
        assert handler.info.protocol_version == 1 and handler.info.uplink_frame_ms == 60
        await dev.send_json({"type": "listen", "state": "detect", "text": "嘿，你好呀"})
        await dev.start_listening("auto")
        await dev.send_text("speak")  # typed chat arrives as listen detect without session_id
        await dev.wait_json("tts", "stop", timeout=10)
        assert len(dev.received_pcm()) == 2 * 10 * 960
        await dev.close()


async def test_legacy_device_id_query_param() -> None:
    async with running_server() as h, connect(h.url + "?device_id=AA:00:00:00:05:02&client-id=web") as ws:
        await ws.send(json.dumps({"type": "hello"}))
        reply = json.loads(await ws.recv())
        assert reply["type"] == "hello" and reply["transport"] == "websocket"
        assert h.handler_for("aa:00:00:00:05:02").info.client_id == "web"


async def test_xiaozhi_sdk_client_with_empty_bearer_token() -> None:
    async with running_server() as h:
        dev = VirtualDevice(
            h.url, device_id="aa:00:00:00:06:01", authorization="Bearer ", listen_mode="realtime"
        )
        hello = await dev.connect()
        # the SDK fails its handshake unless all three are present
        raw = dev.received("hello")[0].message["audio_params"]
        assert {"sample_rate", "channels", "frame_duration"} <= raw.keys()
        assert hello.audio_params.channels == 1
        await dev.start_listening()
        assert h.handler_for("aa:00:00:00:06:01").info.device_id == "aa:00:00:00:06:01"
        await dev.close()
    async with running_server(auth_mode="token", device_tokens="secret") as h:
        with pytest.raises(InvalidStatus) as err:
            await VirtualDevice(h.url, authorization="Bearer ").connect()
        assert err.value.response.status_code == 401


def test_connect_auth_prefers_headers_and_strips_bearer() -> None:
    auth = connect_auth(
        "/xiaozhi/v1/?device-id=q&authorization=Bearer%20qt&protocol-version=3",
        {"Device-Id": "AA:BB", "Authorization": "Bearer ht"},
    )
    assert (auth.device_id, auth.token, auth.protocol_version) == ("aa:bb", "ht", 3)
    assert connect_auth("/x", {"Authorization": "raw token"}).token == "raw token"
    assert connect_auth("/x", {}).protocol_version is None


async def test_idle_connection_is_closed() -> None:
    async with running_server(idle_timeout_s=0.5) as h:
        dev = VirtualDevice(h.url, device_id="aa:00:00:00:07:01")
        dev.config.hello = {"type": "hello", "version": 1, "transport": "websocket", "features": {}}
        await dev.connect()
        await asyncio.wait_for(dev.closed.wait(), 5)
        assert dev.close_code == 4001
        await asyncio.wait_for(h.handler_for("aa:00:00:00:07:01").closed.wait(), 5)


async def test_registry_speak_waits_until_device_left_connecting() -> None:
    async with running_server() as h:
        with pytest.raises(DeviceOfflineError):
            await h.registry.speak("aa:ff:ff:ff:ff:ff", _chunks(1))
        dev = VirtualDevice(h.url, device_id="aa:00:00:00:08:01")
        await dev.connect()  # Connecting: no listen yet
        speak = asyncio.create_task(h.registry.speak("AA:00:00:00:08:01", _chunks(2)))
        await asyncio.sleep(0.4)
        assert not dev.received("tts")  # a tts start now would be rejected by the firmware
        await dev.start_listening()
        listen_at = dev.events[-1].t
        result = await asyncio.wait_for(speak, 10)
        start = dev.received("tts", "start")[0]
        assert start.t >= listen_at
        assert result.frames_sent == 20 and not result.aborted
        assert not dev.audio_events("audio_dropped") and len(dev.received_pcm()) == 20 * 960
        await dev.close()


async def test_registry_speaks_to_idle_device_after_manual_turn() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="aa:00:00:00:08:02", listen_mode="manual")
        await dev.connect()
        await dev.start_listening()
        await dev.stop_listening()
        await dev.wait_json("tts", "stop")  # the echo answer
        await dev.drain()
        assert dev.state == "idle"
        since = len(dev.events)
        result = await h.registry.speak("aa:00:00:00:08:02", _chunks(1), ready_timeout=1)
        assert result.frames_sent == 10
        await dev.wait_json("tts", "stop", since=since)
        assert len([e for e in dev.events[since:] if e.kind == "audio"]) == 10
        await dev.close()


async def _chunks(n: int):
    for chunk in tone_sentences(n):
        yield chunk


def test_tone_helper_is_int16() -> None:
    assert tone(100, 0.1).dtype == np.int16
