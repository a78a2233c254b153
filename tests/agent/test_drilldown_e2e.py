"""Spoken drill-down end to end: the virtual device speaks the command, the real server answers from a real
analysed day (sample day → pipeline → findings.json), through Opus, VAD, Whisper, the skills and TTS."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from mcp import Client

from firmware_bridge.audio import read_wav
from firmware_bridge.virtual_device import VirtualDevice
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.paths import COMMANDS
from tests.tools.helpers import copy_day, findings

RANK = ["critical", "high", "medium", "low", "info"]


def yesterday() -> str:
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)).isoformat()


async def ask(device: VirtualDevice, wav: str, sentences: int = 2) -> list[str]:
    """Say a command (audio + 1 s of silence), collect the first ``sentences`` spoken sentences, abort."""
    since = len(device.events)
    pcm, rate = read_wav(COMMANDS / wav)
    await device.send_pcm(np.concatenate([pcm, np.zeros(rate, dtype=np.int16)]), rate, realtime=False)
    await device.wait_json("tts", "start", timeout=60, since=since)
    got: list[str] = []
    index = since
    while len(got) < sentences:
        event = await device.wait_json("tts", timeout=60, since=index)
        index = device.events.index(event) + 1
        if event.message.get("state") == "stop":
            break
        if event.message.get("state") == "sentence_start":
            got.append(event.message["text"])
    await device.abort()
    await device.wait_json("tts", "stop", timeout=10, since=since)
    await device.start_listening()
    return got


def top(report: dict, kind: str) -> dict:
    mine = [f for f in report["findings"] if f["kind"] == kind]
    return min(mine, key=lambda f: (RANK.index(f["severity"]), -f["count"]))


async def test_spoken_drill_down_names_the_findings(start_app, day) -> None:
    app = await start_app(mcp_port=0)
    copy_day(day.results, app.settings.results_dir, as_day=yesterday())
    report = findings(day.results)
    async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
        await device.wake()
        business = await ask(device, "drill_business.wav")
        event = await ask(device, "drill_event.wav")
        audit = await ask(device, "drill_audit.wav")
        correlate = await ask(device, "correlate.wav")

    assert "业务日志" in business[0] and str(report["stats"]["business"]["lines"]) in business[0]
    assert top(report, "business")["workload"] in business[1]
    assert "事件日志" in event[0] and top(report, "event")["workload"] in event[1]
    bad = day.incident("image_pull_failure")
    assert "审计日志" in audit[0] and bad["user"] in audit[1] and bad["workload"] in audit[1]
    assert correlate[0].startswith("关联")
    assert bad["user"] in correlate[1] and bad["workload"] in correlate[1]


async def test_spoken_drill_down_with_llm_streams_its_answer(start_app, day) -> None:
    bad = day.incident("image_pull_failure")
    with FakeOpenAIServer() as llm:
        llm.push(
            Reply(text=f"审计日志里最严重的是{bad['user']}修改了{bad['workload']}的镜像。要我关联分析吗？")
        )
        app = await start_app(mcp_port=0, llm_base_url=llm.base_url, llm_model="fake-model")
        copy_day(day.results, app.settings.results_dir, as_day=yesterday())
        async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
            await device.wake()
            said = await ask(device, "drill_audit.wav", sentences=2)
        assert said == [
            f"审计日志里最严重的是{bad['user']}修改了{bad['workload']}的镜像。",
            "要我关联分析吗？",
        ]
        seeded = json.loads(
            next(m for m in llm.requests[0]["body"]["messages"] if m["role"] == "tool")["content"]
        )
        assert seeded["kind"] == "audit" and seeded["findings"][0]["user"] == bad["user"]


async def test_device_tools_reach_the_robot_in_process_and_over_http(start_app) -> None:
    app = await start_app(mcp_port=0)
    assert app.mcp_http is not None
    async with VirtualDevice(f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/") as device:
        await device.wake()
        await app.registry.wait_online(device.config.device_id, 10)
        registry = app.agent.registry
        status = await registry.call(app.tools, "get_device_status", {})
        assert status.ok and status.data["status"]["audio_speaker"]["volume"] == device.mcp.state.volume
        assert (await registry.call(app.tools, "set_volume", {"volume": 35})).ok
        assert device.mcp.state.volume == 35
        async with Client(app.mcp_http.transport()) as client:
            out = await client.call_tool("set_volume", {"volume": 60, "device_id": device.config.device_id})
            assert not out.is_error
            health = json.loads((await client.call_tool("system_health", {})).content[0].text)
        assert device.mcp.state.volume == 60
        assert health["devices_online"] == [device.config.device_id]
