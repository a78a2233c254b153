"""`xiaozhi-ops device say|play`: talk to a running server as a virtual xiaozhi device.

    xiaozhi-ops device say "开始播报日志" --wake --out reply.wav
    xiaozhi-ops device play question.wav --mode manual --json
    xiaozhi-ops device say "开始播报日志" --transport mqtt --ota-url http://127.0.0.1:8003/xiaozhi/ota/
    xiaozhi-ops device idle --ota-url http://127.0.0.1:8003/xiaozhi/ota/   # MQTT, prints notify/alert pushes

``--transport mqtt`` behaves like MQTT+UDP firmware: settings from the OTA check, a permanent MQTT connection
that never subscribes, hello → UDP audio (AES-128-CTR).

Prints the transcript as it arrives (stt text, then each sentence_start text) and waits until the reply
has been played to the end, however long (a morning summary lasts a minute or more). ``--max-reply S``
stops listening after S seconds of reply instead, cleanly, saying so. ``--json`` prints one JSON line per
received event instead, with timestamps in seconds since connect.
"""

from __future__ import annotations

import argparse

DEFAULT_URL = "ws://127.0.0.1:8000/xiaozhi/v1/"
DEFAULT_OTA_URL = "http://127.0.0.1:8003/xiaozhi/ota/"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("device", help="act as a virtual xiaozhi device against a server")
    dsub = p.add_subparsers(dest="device_cmd", required=True)
    say = dsub.add_parser("say", help="speak TEXT (espeak-ng) and print the reply")
    say.add_argument("text")
    say.set_defaults(func=_run, source="say")
    play = dsub.add_parser("play", help="send a 16-bit WAV file as the utterance and print the reply")
    play.add_argument("wav")
    play.set_defaults(func=_run, source="play")
    idle = dsub.add_parser(
        "idle", help="MQTT: stay connected and idle, print notify/alert pushes as they arrive"
    )
    idle.add_argument("--ota-url", default=DEFAULT_OTA_URL)
    idle.add_argument("--device-id", default="aa:bb:cc:dd:ee:01")
    idle.add_argument("--firmware", default="2.5.1", help="reported firmware version (notify needs >= 2.5)")
    idle.add_argument("--count", type=int, default=1, help="exit after this many pushes (0: never)")
    idle.add_argument("--timeout", type=float, default=0.0, help="give up after this many seconds (0: never)")
    idle.add_argument("--ca-file", default=None, help="CA bundle for MQTT over TLS (port 8883)")
    idle.set_defaults(func=_run_idle)
    for cmd in (say, play):
        cmd.add_argument("--transport", choices=("websocket", "mqtt"), default="websocket")
        cmd.add_argument(
            "--ota-url", default=DEFAULT_OTA_URL, help="MQTT: where the device gets its settings"
        )
        cmd.add_argument(
            "--ca-file", default=None, help="MQTT over TLS (port 8883): CA bundle to verify with"
        )
        cmd.add_argument("--url", default=DEFAULT_URL)
        cmd.add_argument("--token", default="")
        cmd.add_argument("--device-id", default="aa:bb:cc:dd:ee:01")
        cmd.add_argument("--mode", choices=("auto", "manual", "realtime"), default="auto")
        cmd.add_argument("--protocol-version", type=int, choices=(1, 2, 3), default=1)
        cmd.add_argument("--wake", action="store_true", help="send wake-word pre-roll + listen detect first")
        cmd.add_argument("--out", default=None, help="write the received audio to this WAV file")
        cmd.add_argument("--json", action="store_true", help="one JSON line per received event")
        cmd.add_argument(
            "--timeout", type=float, default=30.0, help="seconds to wait for the reply to start (default 30)"
        )
        cmd.add_argument(
            "--max-reply",
            type=float,
            default=0.0,
            help="stop listening after this many seconds of reply (default 0: until the reply ends)",
        )


def _run(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_session(args))


async def _session(args: argparse.Namespace) -> int:
    import json
    import sys
    import uuid

    from websockets.exceptions import ConnectionClosed

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

    if args.transport == "mqtt":
        from firmware_bridge.mqtt_device import MqttSettings, MqttVirtualDevice, fetch_ota

        try:
            answer = await fetch_ota(args.ota_url, args.device_id, str(uuid.uuid4()))
            dev: VirtualDevice = MqttVirtualDevice(
                MqttSettings.from_ota(answer),
                device_id=args.device_id,
                listen_mode=args.mode,
                ca_file=args.ca_file,
            )
        except Exception as exc:  # OTA unreachable, no mqtt block (server has MQTT off)
            print(f"error: OTA check at {args.ota_url} failed: {exc}", file=sys.stderr)
            return 2
    else:
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
        print(f"error: cannot connect to {dev.url}: {exc}", file=sys.stderr)
        return 2
    outcome = "no reply"
    printer = _LivePrinter(dev, enabled=not args.json)
    try:
        if args.wake:
            await dev.wake(then_listen=False)
        await dev.start_listening(args.mode)
        await dev.send_pcm(pcm, rate)
        if args.mode == "manual":
            await dev.stop_listening()
        else:  # the server's VAD ends the turn: keep the mic open with silence for a while
            await dev.send_pcm(silence(1.5))
        outcome = await _await_reply(dev, printer, args.timeout, args.max_reply)
        if outcome == "done":
            await dev.drain(0.1)
    except ConnectionClosed:
        outcome = "closed"
    finally:
        await dev.close()
    printer.flush()

    if args.json:
        for event in dev.events:
            if event.direction == "in":
                print(json.dumps(event.to_json(dev.t0), ensure_ascii=False))
    if args.out:
        path = dev.write_wav(args.out)
        seconds = len(dev.received_pcm()) / dev.downlink_sample_rate
        print(f"wrote {path} ({seconds:.2f} s)", file=sys.stderr)
    heard = len(dev.transcript())
    reasons = {
        "done": None,
        "partial": f"(stopped listening after {args.max_reply:g} s of reply as asked; the robot was still "
        f"speaking — {heard} lines so far; --max-reply 0 waits for the end)",
        "stalled": "(the reply stopped arriving for 30 s before it ended; printed what arrived)",
        "no reply": f"(no reply within {args.timeout:g} s: is `xiaozhi-ops serve` running at {args.url} with "
        "its speech models loaded? see its log; --timeout waits longer)",
        "closed": f"(the server closed the connection (code {dev.close_code}); printed what arrived)",
    }
    if reasons[outcome]:
        print(reasons[outcome], file=sys.stderr)
    return 0 if outcome in ("done", "partial") else 1


def _run_idle(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_idle(args))


async def _idle(args: argparse.Namespace) -> int:
    """Connect like MQTT firmware at boot and wait, idle, for server pushes."""
    import asyncio
    import sys
    import time
    import uuid

    from firmware_bridge.mqtt_device import MqttSettings, MqttVirtualDevice, fetch_ota

    try:
        answer = await fetch_ota(args.ota_url, args.device_id, str(uuid.uuid4()), version=args.firmware)
        dev = MqttVirtualDevice(MqttSettings.from_ota(answer), device_id=args.device_id, ca_file=args.ca_file)
        await dev.connect_control()
    except Exception as exc:
        print(f"error: cannot connect over MQTT via {args.ota_url}: {exc}", file=sys.stderr)
        return 2
    print(f"connected over MQTT as {args.device_id} ({dev.mqtt_settings.endpoint}); idle", file=sys.stderr)
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else float("inf")
    shown_notes = shown_alerts = 0
    try:
        while time.monotonic() < deadline and not dev.closed.is_set():
            for note in dev.notifications[shown_notes:]:
                if not (note.ok or note.error):
                    break
                shown_notes += 1
                if note.ok:
                    print(f"notify: {len(note.pcm) / 16000:.1f} s of audio from {note.url}")
                else:
                    print(f"notify failed: {note.error} ({note.url})")
                for sub in note.subtitles:
                    print(f"  {sub.get('start_ms', 0):>6} ms  {sub.get('text', '')}")
            for alert in dev.alerts[shown_alerts:]:
                shown_alerts += 1
                print(f"alert: [{alert.get('status')}] {alert.get('message')} ({alert.get('emotion')})")
            if args.count and shown_notes + shown_alerts >= args.count:
                return 0
            await asyncio.sleep(0.1)
    finally:
        await dev.close()
    return 0 if not args.count else 1


class _LivePrinter:
    """Prints transcript lines as they arrive, so a long reply shows progress."""

    def __init__(self, dev, enabled: bool) -> None:
        self.dev = dev
        self.enabled = enabled
        self.printed = 0

    def flush(self) -> None:
        if not self.enabled:
            return
        lines = self.dev.transcript()
        for role, text in lines[self.printed :]:
            print(f"{role}: {text}", flush=True)
        self.printed = len(lines)


async def _await_reply(dev, printer: _LivePrinter, timeout: float, max_reply: float) -> str:
    """done | partial (max_reply reached) | stalled (nothing new for 30 s mid-reply) | no reply | closed."""
    import time

    try:
        start = await dev.wait_json("tts", "start", timeout=timeout)
    except TimeoutError:
        return "closed" if dev.closed.is_set() else "no reply"
    since = dev.events.index(start)
    began = time.monotonic()
    last_change, seen = began, len(dev.events)
    while True:
        printer.flush()
        if any(e.message.get("state") == "stop" for e in dev.received("tts") if e.t >= start.t):
            return "done"
        if dev.closed.is_set():
            return "closed"
        now = time.monotonic()
        if max_reply > 0 and now - began >= max_reply:
            return "partial"
        if len(dev.events) != seen:
            last_change, seen = now, len(dev.events)
        elif now - last_change > STALL_S:
            return "stalled"
        try:
            await dev.wait_json("tts", "stop", timeout=0.5, since=since)
        except TimeoutError:
            continue


STALL_S = 30.0
