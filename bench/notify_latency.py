"""Alert → idle robot over MQTT: a Tencent TKE alarm POSTed to the running service until the robot, connected over
MQTT but idle, has fetched the first byte of the ``notify`` audio.

    python -m bench.notify_latency [--lines 1000000] [--alerts 10] [--seed 7] [--keep DIR]

Set-up as in ``bench.alert_to_voice`` (real service with Whisper/VAD/espeak, a generated day of --lines lines for
yesterday, the nightly pipeline once), plus ``XOPS_MQTT_ENABLED`` and a firmware-like MQTT device bound to the owner
that did its OTA check and sits idle (never subscribes, no UDP session). Then --alerts times an alarm for one of
the day's ground-truth incidents is POSTed to /webhooks/tencent. Measured from the moment the POST is sent: the
``notify`` message at the device, the device's first byte of the Ogg-Opus audio, and the whole file decoded; checked:
the subtitles name the workload, the audio decodes as mono Ogg Opus. The alarm then recovers so the next one opens
a fresh case. Writes bench/results/notify_latency.json. Target (issue 14): POST → first audio byte p50 ≤ 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.alert_to_voice import EXPECTED, _stats, alarm_body
from bench.instance import isolated_settings

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "bench" / "results" / "notify_latency.json"
TARGET_P50_S = 3.0
DEVICE = "aa:bb:cc:14:00:01"


async def one_alert(app: Any, device: Any, http: Any, hook: str, incident: dict[str, Any], n: int) -> dict:
    tz = ZoneInfo(app.settings.timezone)
    sid = f"bench-notify-{n}"
    body = json.dumps(alarm_body(incident, n, sid, tz)).encode()
    headers = {"Content-Type": "application/json"}
    since_notes = len(device.notifications)
    since = len(device.events)
    t0 = time.monotonic()
    async with http.post(hook, data=body, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"webhook answered {resp.status} {await resp.text()}")
    note = await device.wait_notification(timeout=60, since=since_notes)
    msg = await device.wait_json("notify", timeout=5, since=since)
    said = "".join(str(s.get("text", "")) for s in note.subtitles)
    row = {
        "incident": incident["id"],
        "type": incident["type"],
        "workload": f"{incident['namespace']}/{incident['workload']}",
        "post_to_notify_ms": round((msg.t - t0) * 1000, 1),
        "post_to_first_byte_ms": round((note.first_byte_at - t0) * 1000, 1) if note.first_byte_at else None,
        "post_to_decoded_ms": round((note.decoded_at - t0) * 1000, 1) if note.decoded_at else None,
        "audio_s": round(len(note.pcm) / 16000, 2),
        "subtitles": len(note.subtitles),
        "workload_in_subtitles": incident["workload"] in said,
        "error": note.error,
    }
    recovery = json.dumps(alarm_body(incident, n, f"{sid}-ok", tz, recover=True)).encode()
    async with http.post(hook, data=recovery, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"recovery answered {resp.status} {await resp.text()}")
    await app.alerts.drain()
    return row


async def run(lines: int, alerts: int, seed: int, root: Path) -> dict[str, Any]:
    import aiohttp

    from agents.sample_day import generate_day
    from bench.mining import machine
    from firmware_bridge.mqtt_device import MqttSettings, MqttVirtualDevice, fetch_ota
    from server.app import App

    host = machine()
    settings = isolated_settings(
        root,
        timezone="Asia/Shanghai",
        mqtt_enabled=True,
        mqtt_port=0,
        udp_port=0,
        device_owners=f"{DEVICE}=default",
    )
    tz = ZoneInfo(settings.timezone)
    day = (datetime.now(tz).date() - timedelta(days=1)).isoformat()
    setup: dict[str, float] = {}
    app = App(settings)
    t = time.perf_counter()
    await app.start(run_pipeline=False)
    setup["app_start_s"] = round(time.perf_counter() - t, 2)
    rows: list[dict[str, Any]] = []
    try:
        t = time.perf_counter()
        gen = await asyncio.to_thread(
            generate_day, settings.logs_path, day, lines=lines, seed=seed, owner=settings.default_owner
        )
        setup["generate_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        res = await app.scheduler.run_owner(settings.default_owner, day)
        setup["pipeline_s"] = round(time.perf_counter() - t, 2)
        if res is None:
            raise RuntimeError("pipeline failed")
        incidents = [i for i in gen.ground_truth["incidents"] if i["type"] in EXPECTED]
        incidents.sort(key=lambda i: list(EXPECTED).index(i["type"]))
        ota = f"http://127.0.0.1:{app.http_port}/xiaozhi/ota/"
        answer = await fetch_ota(ota, DEVICE, str(uuid.uuid4()), version="2.5.1")
        device = MqttVirtualDevice(MqttSettings.from_ota(answer), device_id=DEVICE)
        await device.connect_control()
        hook = f"http://127.0.0.1:{app.http_port}/webhooks/tencent/{app.webhook_token}"
        try:
            async with aiohttp.ClientSession() as http:
                for n in range(alerts):
                    rows.append(await one_alert(app, device, http, hook, incidents[n % len(incidents)], n))
                    await asyncio.sleep(0.3)
        finally:
            await device.close()
    finally:
        await app.stop()

    first_byte = [r["post_to_first_byte_ms"] / 1000 for r in rows if r["post_to_first_byte_ms"] is not None]
    p50 = _stats(first_byte)["p50"]
    return {
        "machine": host,
        "when": datetime.now().isoformat(timespec="seconds"),
        "day": day,
        "lines": gen.ground_truth["generated_lines"],
        "alerts": len(rows),
        "setup": setup,
        "latency_ms": {
            "post_to_notify": _stats([r["post_to_notify_ms"] / 1000 for r in rows]),
            "post_to_first_audio_byte": _stats(first_byte),
            "post_to_decoded": _stats(
                [r["post_to_decoded_ms"] / 1000 for r in rows if r["post_to_decoded_ms"]]
            ),
        },
        "workload_in_subtitles": sum(r["workload_in_subtitles"] for r in rows),
        "errors": [r["error"] for r in rows if r["error"]],
        "target": {"post_to_first_byte_p50_ms": TARGET_P50_S * 1000, "met": p50 is not None and p50 <= 3000},
        "per_alert": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--alerts", type=int, default=10)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", default=None, help="work directory to keep (default: a temp dir, removed)")
    args = p.parse_args(argv)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="xops-notify-"))
    try:
        result = asyncio.run(run(args.lines, args.alerts, args.seed, root))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(result, ensure_ascii=False, indent=1)
    print(text)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(text + "\n", encoding="utf-8")
    return 0 if result["target"]["met"] and not result["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
