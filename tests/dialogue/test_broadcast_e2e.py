"""Broadcast end to end over a real socket: real Opus, VAD, Whisper and TTS; the virtual device as firmware."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from firmware_bridge.audio import read_wav
from firmware_bridge.virtual_device import VirtualDevice
from server.dialogue.skills import FOLLOW_UP
from server.speech.text import speakable_sentences
from tests.paths import COMMANDS

SUMMARY = """# 日志摘要
1. **业务日志**：订单服务 order-api 在 14 点后错误激增，共 1200 条 `ImagePullBackOff` 相关超时。
2. 事件日志：shop/order-api 的镜像 registry.local/shop/order-api:v2.3.1-bad 拉取失败。
3. 审计日志：alice 在 13 点 58 分修改了 order-api 的镜像。
4. 建议回滚 order-api 到上一个版本。
"""


def yesterday() -> str:
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)).isoformat()


def write_summary(results: Path, day: str, text: str, owner: str = "default") -> None:
    d = results / day / owner
    d.mkdir(parents=True, exist_ok=True)
    (d / "llm_summary.txt").write_text(text, encoding="utf-8")


async def say(device: VirtualDevice, wav: Path) -> None:
    """Speak a command into the device the way a person would: audio, then a second of silence."""
    pcm, rate = read_wav(wav)
    await device.send_pcm(np.concatenate([pcm, np.zeros(rate, dtype=np.int16)]), rate, realtime=False)


async def test_broadcast_reads_summary_sentence_by_sentence(start_app) -> None:
    app = await start_app()
    write_summary(app.settings.results_dir, yesterday(), SUMMARY)
    async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
        await device.wake()
        await say(device, COMMANDS / "broadcast.wav")
        stop = await device.wait_json("tts", "stop", timeout=60)

        stt = device.received("stt")
        assert stt and "播报" in stt[0].message["text"]
        start = device.received("tts", "start")[0]
        audio = [e for e in device.events if e.kind == "audio" and e.direction == "in"]
        assert audio, "no downlink audio"
        # the firmware resets its decoder right after tts start: start arrives first, and the server leaves ≥ 50 ms
        # before the first frame (timed where it is decided: a loaded machine may deliver both late, closer together)
        channel = app.registry.get(device.config.device_id)
        assert channel is not None
        stats = channel.last_play_stats
        assert stats.started_at is not None and stats.first_frame_at is not None
        assert start.t < audio[0].t and stats.first_frame_at - stats.started_at >= 0.05

        texts = [e.message["text"] for e in device.received("tts", "sentence_start")]
        expected = speakable_sentences(SUMMARY)
        assert texts[: len(expected)] == expected
        assert texts[-1] == FOLLOW_UP
        assert all("**" not in t and "`" not in t and not t.startswith("1.") for t in texts)

        # the decoded audio is as long as the synthesized sentences (± Opus framing), none dropped
        tts = app.speech.tts
        rate = device.downlink_sample_rate
        want = sum([len(await tts.synthesize(t, rate)) for t in texts]) / rate
        got = len(device.received_pcm()) / rate
        assert abs(got - want) <= 0.07 * len(texts) + 0.1, (got, want)
        assert not device.audio_events("audio_dropped") and not device.audio_events("audio_overflow")

        # paced in real time: after the pre-buffer, about one 60 ms frame per 60 ms
        span = audio[-1].t - audio[0].t
        assert span >= (len(audio) - 6) * 0.06 * 0.9
        assert stop.t >= audio[-1].t


async def test_abort_mid_broadcast_stops_audio_within_200ms(start_app) -> None:
    app = await start_app()
    write_summary(app.settings.results_dir, yesterday(), SUMMARY * 3)
    async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
        await device.wake()
        await say(device, COMMANDS / "broadcast.wav")
        await device.wait_for(lambda e: e.kind == "audio" and e.direction == "in", timeout=60)
        await asyncio.sleep(1.0)
        t_abort = time.monotonic()
        await device.abort()
        stop = await device.wait_json("tts", "stop", timeout=5)
        assert stop.t - t_abort < 0.2
        await asyncio.sleep(0.5)
        late = [e for e in device.events if e.kind == "audio" and e.direction == "in" and e.t > t_abort + 0.2]
        assert late == []


async def test_no_report_says_so_clearly(start_app) -> None:
    app = await start_app()
    async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
        await device.wake()
        await device.send_text("开始播报日志")
        await device.wait_json("tts", "stop", timeout=30)
        said = "".join(e.message["text"] for e in device.received("tts", "sentence_start"))
        assert "还没有" in said and "报告" in said


async def test_older_report_is_used_and_announced(start_app) -> None:
    app = await start_app()
    older = (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=3)).isoformat()
    write_summary(app.settings.results_dir, older, "三天前一切正常。")
    async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
        await device.wake()
        await device.send_text("开始播报日志")
        await device.wait_json("tts", "stop", timeout=30)
        texts = [e.message["text"] for e in device.received("tts", "sentence_start")]
        d = datetime.fromisoformat(older)
        assert f"{d.month}月{d.day}日" in texts[0] and "还没有" in texts[0]
        assert "三天前一切正常。" in texts


async def test_volume_command_calls_device_mcp(start_app) -> None:
    app = await start_app()
    async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
        await device.wake()
        await device.send_text("把音量调到50")
        await device.wait_json("tts", "stop", timeout=30)
        assert device.mcp.state.volume == 50
        said = "".join(e.message["text"] for e in device.received("tts", "sentence_start"))
        assert "50" in said
