"""`xiaozhi-ops device say|play` against a live DeviceServer (the CLI runs its own event loop in a thread)."""

import argparse
import asyncio
import json

from firmware_bridge.audio import read_wav
from server.commands import device as device_cmd
from tests.device.helpers import running_server
from tests.paths import SHARED


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="xiaozhi-ops")
    sub = parser.add_subparsers(dest="command", required=True)
    device_cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


async def test_play_wav_manual_mode_prints_transcript_and_writes_reply(tmp_path, capsys) -> None:
    wav = SHARED / "audio" / "commands" / "wake.wav"
    pcm, rate = read_wav(wav)
    out = tmp_path / "reply.wav"
    async with running_server() as h:
        code = await asyncio.to_thread(
            run_cli,
            [
                "device",
                "play",
                str(wav),
                "--url",
                h.url,
                "--mode",
                "manual",
                "--out",
                str(out),
                "--timeout",
                "20",
            ],
        )
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    frames = -(-len(pcm) * 16000 // rate // 960)  # the test handler echoes what it heard
    assert printed == [f"user: heard {frames * 60} ms", "assistant: echo"]
    reply, reply_rate = read_wav(out)
    assert reply_rate == 16000 and len(reply) == frames * 960


async def test_say_with_wake_and_json_events(capsys) -> None:
    async with running_server() as h:
        code = await asyncio.to_thread(
            run_cli,
            [
                "device",
                "say",
                "ni3 hao3",
                "--url",
                h.url,
                "--mode",
                "manual",
                "--wake",
                "--json",
                "--protocol-version",
                "2",
            ],
        )
        handler = h.handlers[-1]
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [
        (e["kind"], (e.get("message") or {}).get("type"), (e.get("message") or {}).get("state"))
        for e in lines
    ]
    assert kinds[0] == ("json", "hello", None)
    assert ("json", "tts", "start") in kinds and ("json", "tts", "stop") in kinds
    assert any(k[0] == "audio" for k in kinds)
    times = [e["t"] for e in lines]
    assert times == sorted(times)
    assert handler.info.protocol_version == 2
    assert ("listen", ("detect", None, "你好小智")) in handler.events


async def test_unreachable_server_is_a_clear_error(capsys) -> None:
    code = await asyncio.to_thread(
        run_cli, ["device", "say", "ni3 hao3", "--url", "ws://127.0.0.1:9/xiaozhi/v1/"]
    )
    assert code == 2
    assert "cannot connect" in capsys.readouterr().err
