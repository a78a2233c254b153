"""External broker mode: the server joins an EMQX-like broker as a client (no embedded broker). Devices are
authenticated and confined through the server's HTTP hooks, receive the server's messages through the broker's
auto-subscribe, and a full session and a notify push work as with the embedded broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from firmware_bridge.mqtt_device import MqttSettings, MqttVirtualDevice
from firmware_bridge.virtual_device import DeviceError
from server.mqtt.notify import PushOutcome
from tests.mqtt.emqx_like import HOOKS, start_emqx_like
from tests.mqtt.helpers import running_stack

A, B = "aa:bb:cc:00:00:e1", "aa:bb:cc:00:00:e2"


async def test_external_broker_session_push_and_acl(tmp_path: Path) -> None:
    broker, port = await start_emqx_like()
    try:
        async with running_stack(tmp_path, mqtt_external=f"127.0.0.1:{port}") as stack:
            assert stack.service.broker is None and stack.service.external is not None
            HOOKS["url"] = f"http://127.0.0.1:{stack.http_port}"  # the broker asks the server's HTTP hooks
            await asyncio.wait_for(stack.service.external.ready.wait(), 10)
            answer = await stack.ota(A)
            settings = MqttSettings.from_ota(answer)
            assert settings.host_port == ("127.0.0.1", port)  # devices are sent to the external broker
            forged = MqttVirtualDevice(MqttSettings(**{**settings.__dict__, "password": "x"}), device_id=A)
            with pytest.raises(DeviceError, match="refused"):
                await forged.connect_control()
            dev = await stack.device(A)
            other = await stack.device(B)
            for _ in range(100):
                if A in stack.service.online() and B in stack.service.online():
                    break
                await asyncio.sleep(0.05)
            # a session over the external broker + UDP
            await dev.wake()
            handler = stack.handler_for(A)
            await handler.wait_event("audio")
            since = len(dev.events)
            await dev.send_text("speak")
            await dev.wait_json("tts", "stop", timeout=10, since=since)
            assert len(dev.audio_events()) >= 18
            # ACL through the hooks: A cannot publish on B's topic
            await dev.publish_raw(other.mqtt_settings.publish_topic, '{"type":"hello","transport":"udp"}')
            await asyncio.sleep(0.3)
            assert all(h.info.device_id == A for h in stack.handlers)
            # a push to the idle device
            assert await stack.service.push(B, ["外部代理推送测试。"], case_id=5) is PushOutcome.NOTIFY
            note = await other.wait_notification(timeout=10)
            assert note.ok and note.subtitles[0]["text"] == "外部代理推送测试。"
            assert not dev.notifications
            await dev.close()
            await other.close()
            for _ in range(100):
                if not stack.service.online():
                    break
                await asyncio.sleep(0.05)
            assert stack.service.online() == []  # the broker's disconnect events reached the server
    finally:
        await broker.shutdown()
