"""`xiaozhi-ops device … --transport mqtt` and `device idle`: the CLI's virtual device over MQTT+UDP."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from server.commands import device as cli
from tests.mqtt.helpers import running_stack

DEV = "aa:bb:cc:00:00:0c"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli.register(sub)
    return parser.parse_args(["device", *argv])


async def test_say_over_mqtt_gets_the_reply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with running_stack(tmp_path) as stack:
        args = parse("say", "你好", "--transport", "mqtt", "--ota-url", stack.ota_url, "--device-id", DEV,
                     "--mode", "manual", "--timeout", "10")  # fmt: skip
        assert await cli._session(args) == 0
        out = capsys.readouterr().out
        assert "user: heard" in out and "assistant: echo" in out  # the recording handler echoed over UDP
        assert stack.handler_for(DEV).info.remote == "mqtt+udp"


async def test_idle_prints_a_push(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with running_stack(tmp_path) as stack:
        args = parse("idle", "--ota-url", stack.ota_url, "--device-id", DEV, "--timeout", "15")
        task = asyncio.create_task(cli._idle(args))
        for _ in range(100):
            if DEV in stack.service.online():
                break
            await asyncio.sleep(0.05)
        await stack.service.push(DEV, ["数据库连接数过高。"], case_id=None)
        assert await task == 0
        out = capsys.readouterr().out
        assert "notify:" in out and "数据库连接数过高。" in out


async def test_mqtt_transport_against_a_websocket_only_server_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_stack(tmp_path, mqtt_enabled=False) as stack:
        args = parse("say", "你好", "--transport", "mqtt", "--ota-url", stack.ota_url, "--device-id", DEV)
        assert await cli._session(args) == 2
        assert "no mqtt block" in capsys.readouterr().err
