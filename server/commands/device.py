"""`xiaozhi-ops device say|play`: talk to a running server as a virtual xiaozhi device.

    xiaozhi-ops device say "开始播报日志" --wake --out reply.wav
    xiaozhi-ops device play question.wav --mode manual --json

Prints the transcript (stt text, then each sentence_start text); ``--json`` prints one JSON line per
received event instead, with timestamps in seconds since connect.
"""

from __future__ import annotations

import argparse

DEFAULT_URL = "ws://127.0.0.1:8000/xiaozhi/v1/"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("device", help="act as a virtual xiaozhi device against a server")
    dsub = p.add_subparsers(dest="device_cmd", required=True)
    say = dsub.add_parser("say", help="speak TEXT (espeak-ng) and print the reply")
    say.add_argument("text")
    say.set_defaults(func=_run, source="say")
    play = dsub.add_parser("play", help="send a 16-bit WAV file as the utterance and print the reply")
    play.add_argument("wav")
    play.set_defaults(func=_run, source="play")
    for cmd in (say, play):
        cmd.add_argument("--url", default=DEFAULT_URL)
        cmd.add_argument("--token", default="")
        cmd.add_argument("--device-id", default="aa:bb:cc:dd:ee:01")
        cmd.add_argument("--mode", choices=("auto", "manual", "realtime"), default="auto")
        cmd.add_argument("--protocol-version", type=int, choices=(1, 2, 3), default=1)
        cmd.add_argument("--wake", action="store_true", help="send wake-word pre-roll + listen detect first")
        cmd.add_argument("--out", default=None, help="write the received audio to this WAV file")
        cmd.add_argument("--json", action="store_true", help="one JSON line per received event")
        cmd.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the reply")


def _run(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_session(args))


async def _session(args: argparse.Namespace) -> int:
    import json
    import sys

    from firmware_bridge.audio import AudioError, espeak_pcm, read_wav, silence
    from firmware_bridge.virtual_device import VirtualDevice

    try:
        if args.source == "say":
            pcm, rate = espeak_pcm(args.text), 16000
        else:
            pcm, rate = read_wav(args.wav)
    except (AudioError, OSError) as exc:
        print(f"error: cannot prepare audio: {exc}", file=sys.stderr)
        return 2

    dev = VirtualDevice(
        args.url,
        device_id=args.device_id,
        token=args.token,
        protocol_version=args.protocol_version,
        listen_mode=args.mode,
    )
    try:
        await dev.connect()
    except Exception as exc:  # refused, 401 (InvalidStatus), no hello (DeviceError)
        print(f"error: cannot connect to {args.url}: {exc}", file=sys.stderr)
        return 2
    replied = False
    try:
        if args.wake:
            await dev.wake(then_listen=False)
        await dev.start_listening(args.mode)
        await dev.send_pcm(pcm, rate)
        if args.mode == "manual":
            await dev.stop_listening()
        else:  # the server's VAD ends the turn: keep the mic open with silence for a while
            await dev.send_pcm(silence(1.5))
        start = await dev.wait_json("tts", "start", timeout=args.timeout)
        since = dev.events.index(start)
        await dev.wait_json("tts", "stop", timeout=args.timeout, since=since)
        replied = True
        await dev.drain(0.1)
    except TimeoutError:
        print("error: no complete reply before the timeout", file=sys.stderr)
    finally:
        await dev.close()

    if args.json:
        for event in dev.events:
            if event.direction == "in":
                print(json.dumps(event.to_json(dev.t0), ensure_ascii=False))
    else:
        for role, text in dev.transcript():
            print(f"{role}: {text}")
    if args.out:
        path = dev.write_wav(args.out)
        seconds = len(dev.received_pcm()) / dev.downlink_sample_rate
        print(f"wrote {path} ({seconds:.2f} s)", file=sys.stderr)
    return 0 if replied else 1
