"""Push to an idle MQTT device: notify (Ogg-Opus URL + subtitles) fetched and decoded by the firmware-like
device, unguessable short-lived URLs (404 when expired or guessed), alert for older firmware, and every push
recorded: sent, fetched, streamed to the end, expired."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import aiohttp

from firmware_bridge.ogg_opus import read_ogg_opus
from server.mqtt.notify import PushEvent, PushOutcome
from tests.mqtt.helpers import running_stack

A = "aa:bb:cc:00:00:0a"


async def test_idle_device_receives_notify_fetches_and_decodes_it(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        dev = await stack.device(A, version="2.5.1")
        await asyncio.sleep(0.1)
        sentences = ["订单服务错误率升高。", "原因是十点零五分的镜像更新。", "是否需要回滚？"]
        outcome = await stack.service.push(A, sentences, case_id=7)
        assert outcome is PushOutcome.NOTIFY
        note = await dev.wait_notification(timeout=10)
        assert note.ok, note.error
        assert [s["text"] for s in note.subtitles] == sentences
        starts = [s["start_ms"] for s in note.subtitles]
        assert starts[0] == 0 and starts == sorted(starts) and len(set(starts)) == 3
        # subtitles start where the sentences start: the last one within the audio
        assert starts[-1] < len(note.pcm) * 1000 // 16000
        assert not dev.audio_open, "notify never opens the UDP channel"
        for _ in range(100):  # "streamed" is noted after the last write returned: up to 5 s under load
            if any(n[2]["event"] == "streamed" for n in stack.notes):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        events = [(n[0], n[2]["event"]) for n in stack.notes]
        assert events == [(7, "sent"), (7, "fetched"), (7, "streamed")]
        # a second fetch of the same URL still works within its lifetime (retries), but is not recorded again
        async with aiohttp.ClientSession() as http, http.get(note.url, allow_redirects=False) as resp:
            assert resp.status == 200
            read_ogg_opus(await resp.read())
        assert len(stack.notes) == 3
        await dev.close()


async def test_expired_or_guessed_notify_url_is_404(tmp_path: Path) -> None:
    async with running_stack(tmp_path, notify_ttl_s=0.6) as stack:
        dev = await stack.device(A)
        await asyncio.sleep(0.1)
        dev.state = "speaking"  # busy: the device ignores the notify, so nobody fetches it
        await stack.service.push(A, ["磁盘即将写满。"], case_id=3)
        await dev.wait_json("notify", timeout=5)
        url = dev.received("notify")[0].message["audio_url"]  # type: ignore[index]
        base, name = url.rsplit("/", 1)
        token = name.removesuffix(".ogg")
        near = token[:-1] + ("y" if token[-1] == "x" else "x")  # one character off; never the real token
        async with aiohttp.ClientSession() as http:
            for guess in (
                f"{base}/{secrets.token_urlsafe(24)}.ogg",
                f"{base}/",
                url[:-4],  # the token without .ogg
                f"{base}/{near}.ogg",
                url + "x",
            ):
                async with http.get(guess, allow_redirects=False) as resp:
                    assert resp.status == 404, guess
            await asyncio.sleep(1.0)
            async with http.get(url, allow_redirects=False) as resp:
                assert resp.status == 404
        events = [n[2]["event"] for n in stack.notes]
        assert events == ["sent", "expired"]
        await dev.close()


async def test_firmware_without_notify_gets_an_alert(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        dev = await stack.device(A, version="2.4.2")
        await asyncio.sleep(0.1)
        outcome = await stack.service.push(A, ["订单服务错误率升高。"], case_id=9)
        assert outcome is PushOutcome.ALERT
        alert = await dev.wait_json("alert", timeout=5)
        assert alert.message is not None
        assert alert.message["message"] == "订单服务错误率升高。"
        assert all(isinstance(alert.message[k], str) for k in ("status", "message", "emotion"))
        assert not dev.received("notify")
        assert [n[2]["event"] for n in stack.notes] == [PushEvent.ALERT_SENT.value]
        await dev.close()
    async with running_stack(tmp_path) as stack:  # offline device: nothing sent, nothing recorded
        assert await stack.service.push(A, ["x"], case_id=1) is PushOutcome.OFFLINE
        assert stack.notes == []
