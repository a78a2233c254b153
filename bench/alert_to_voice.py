"""Alert → voice: a Tencent TKE alarm POSTed to the running service until the robot starts saying its cause.

    python -m bench.alert_to_voice [--lines 1000000] [--alerts 10] [--seed 7] [--keep DIR]

Set-up (timed, but kept out of the latency numbers): the real service starts (Whisper, VAD, espeak TTS), a
generated day of --lines lines for yesterday lands in the app's local log dir and the nightly pipeline runs once
through ``app.scheduler.run_owner`` so the evidence store exists. Then a virtual device wakes (listen auto) and,
--alerts times, a TKE pod alarm for one of the day's ground-truth incidents (image-pull rollout, OOM,
FailedScheduling, unbound PVC, HPA metrics, ConfigMap change, in turn) is POSTed to /webhooks/tencent. Measured
from the moment the POST is sent: the HTTP 200, the first ``tts sentence_start``, the first downlink Opus frame at
the device, and the second ``sentence_start`` (where the cause begins: the first sentence only names the alert,
so this includes playing it). The speech is then aborted, the alarm recovered (the service opens one case per
resource until it recovers) and the next one fires on a fresh pod. Writes bench/results/alert_to_voice.json.
Target: POST → first audio p50 ≤ 2 s with tracing over a 1M-line day.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.instance import isolated_settings

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "bench" / "results" / "alert_to_voice.json"
TARGET_P50_S = 2.0
TIME_FMT = "%Y-%m-%d %H:%M:%S"

# incident type → the tracer's verdict that counts as "cause found correctly" (as in bench.trace)
EXPECTED = {
    "image_pull_failure": "bad_image",
    "oom_kill": "oom_kill",
    "insufficient_memory": "scale_beyond_capacity",
    "unbound_pvc": "missing_storage_class",
    "hpa_metrics": "hpa_metrics",
    "configmap_change": "config_change",
}
# incident type → (TKE metric, its console name): what a TKE alarm policy would fire on for that symptom
SIGNAL = {
    "image_pull_failure": ("k8s_pod_status_ready", "Pod 就绪状态"),
    "oom_kill": ("k8s_pod_restart_total", "Pod 重启次数"),
    "insufficient_memory": ("k8s_pod_status_ready", "Pod 就绪状态"),
    "unbound_pvc": ("k8s_pod_status_ready", "Pod 就绪状态"),
    "hpa_metrics": ("k8s_pod_restart_total", "Pod 重启次数"),
    "configmap_change": ("k8s_pod_restart_total", "Pod 重启次数"),
}


def _pod_name(incident: dict[str, Any], n: int) -> str:
    """A fresh pod of the incident's workload, so every alert is a new alert (and, after recovery, a new case)."""
    w = incident["workload"]
    if incident["workload_kind"] == "StatefulSet":
        return f"{w}-{n}"
    if n == 0 and incident["details"].get("pod"):
        return incident["details"]["pod"]
    return f"{w}-6d{n:04d}b7c9-x{n:03d}q"


def alarm_body(incident: dict[str, Any], n: int, session_id: str, tz: ZoneInfo, *, recover: bool = False):
    """The TKE metric alarm (or its recovery) for incident ``incident``, on the alert's ``n``-th pod."""
    from tests.alerts.bodies import tke_pod_alarm

    metric, show = SIGNAL[incident["type"]]
    first = datetime.fromtimestamp(incident["start_ts"] + 300, tz)
    body = tke_pod_alarm(
        session_id,
        pod=_pod_name(incident, n),
        workload=incident["workload"],
        namespace=incident["namespace"],
        metric=metric,
        status="0" if recover else "1",
        first=first.strftime(TIME_FMT),
        recover=(first + timedelta(minutes=10)).strftime(TIME_FMT) if recover else "0",
    )
    kind = incident["workload_kind"]
    # an HPA's symptoms are alarmed on the Deployment it scales
    body["alarmObjInfo"]["dimensions"]["workload_kind"] = (
        "StatefulSet" if kind == "StatefulSet" else "Deployment"
    )
    body["alarmPolicyInfo"]["conditions"]["metricShowName"] = show
    return body


def _stats(values: list[float]) -> dict[str, float | None]:
    from bench.voice_latency import percentile

    if not values:
        return {"p50": None, "p95": None, "max": None}
    return {
        "p50": round(percentile(values, 50) * 1000),
        "p95": round(percentile(values, 95) * 1000),
        "max": round(max(values) * 1000),
    }


def _tracer_note(app: Any, case_id: int) -> dict[str, Any] | None:
    for entry in app.cases.timeline(case_id):
        if entry.actor == "tracer" and entry.kind == "note":
            return entry.detail
    return None


def _last_announcement(app: Any) -> list[str]:
    """The whole announcement the service stored for the device (the abort cuts what is actually heard)."""
    from sqlalchemy import select

    from server.delivery import announcements

    q = select(announcements.c.sentences).order_by(announcements.c.id.desc()).limit(1)
    with app.db.engine.connect() as conn:
        row = conn.execute(q).first()
    return json.loads(row[0]) if row else []


async def _new_case_id(app: Any, known: set[int], timeout: float = 10.0) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = [c.id for c in app.cases.list_cases(limit=200) if c.id not in known]
        if fresh:
            return min(fresh)
        await asyncio.sleep(0.02)
    return None


async def one_alert(app: Any, device: Any, http: Any, hook: str, incident: dict[str, Any], n: int) -> dict:
    tz = ZoneInfo(app.settings.timezone)
    known = {c.id for c in app.cases.list_cases(limit=200)}
    sid = f"bench-a2v-{n}"
    body = json.dumps(alarm_body(incident, n, sid, tz)).encode()
    since = len(device.events)
    headers = {"Content-Type": "application/json"}

    t0 = time.monotonic()
    async with http.post(hook, data=body, headers=headers) as resp:
        reply = await resp.json()
        t_http = time.monotonic()
    if resp.status != 200 or reply.get("retCode") != 0:
        raise RuntimeError(f"webhook answered {resp.status} {reply}")
    first_sentence = await device.wait_json("tts", "sentence_start", timeout=60, since=since)
    first_audio = await device.wait_for(
        lambda e: e.kind == "audio" and e.direction == "in", timeout=60, since=since
    )

    # the first sentence only names the alert; the cause starts with the second one
    sentence_starts = [first_sentence.t]
    try:
        second = await device.wait_for(
            lambda e: e.t > first_sentence.t and e.kind == "json" and e.direction == "in"
            and e.message.get("type") == "tts" and e.message.get("state") in ("sentence_start", "stop"),
            timeout=30, since=since,
        )  # fmt: skip
        if second.message.get("state") == "sentence_start":
            sentence_starts.append(second.t)
    except TimeoutError:
        pass
    await device.abort("bench")
    stop = await device.wait_json("tts", "stop", timeout=30, since=since)
    spoken = [
        str(e.message.get("text", ""))
        for e in device.events[since:]
        if e.direction == "in" and e.kind == "json" and e.message.get("type") == "tts"
        and e.message.get("state") == "sentence_start" and e.t <= stop.t
    ]  # fmt: skip
    dropped = sum(
        1 for e in device.events[since:] if e.kind in ("audio_dropped", "audio_overflow", "invalid")
    )
    # back to listening (the device re-listens once its decode queue drains) before the next alarm
    relistened = True
    if device.state == "speaking":
        try:
            await device.wait_for(
                lambda e: e.kind == "state" and e.note != "speaking", timeout=15, since=since
            )
        except TimeoutError:
            relistened = False  # reported: a device stuck in speaking would not hear the next alarm right

    case_id = await _new_case_id(app, known)
    note = _tracer_note(app, case_id) if case_id is not None else None
    trace = app.delivery.traces.get(case_id) if case_id is not None else None
    cause = note.get("cause") if note else None
    announced = _last_announcement(app)
    said = "".join(announced)

    # the alarm recovers, so this workload's next alarm opens a new case
    recovery = json.dumps(alarm_body(incident, n, f"{sid}-ok", tz, recover=True)).encode()
    async with http.post(hook, data=recovery, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"recovery answered {resp.status} {await resp.text()}")
    await app.alerts.drain()

    return {
        "incident": incident["id"],
        "type": incident["type"],
        "workload": f"{incident['namespace']}/{incident['workload']}",
        "pod": _pod_name(incident, n),
        "case_id": case_id,
        "post_to_http_200_ms": round((t_http - t0) * 1000, 1),
        "post_to_first_sentence_ms": round((first_sentence.t - t0) * 1000, 1),
        "post_to_first_audio_ms": round((first_audio.t - t0) * 1000, 1),
        "post_to_second_sentence_ms": round((sentence_starts[1] - t0) * 1000, 1)
        if len(sentence_starts) > 1
        else None,
        "trace_ms": round(trace.stats["seconds"] * 1000, 1) if trace and "seconds" in trace.stats else None,
        "cause": cause,
        "expected": EXPECTED.get(incident["type"]),
        "cause_found": bool(cause) and cause != "none",
        "cause_correct": cause == EXPECTED.get(incident["type"]),
        "workload_spoken": incident["workload"] in said,
        "confidence": note.get("confidence") if note else None,
        "first_sentence": str(first_sentence.message.get("text", "")),
        "spoken_before_abort": spoken,
        "announcement": announced,
        "device_audio_problems": dropped,
        "device_relistened": relistened,
        "_t": (t_http - t0, first_sentence.t - t0, first_audio.t - t0),
        "_cause_t": sentence_starts[1] - t0 if len(sentence_starts) > 1 else None,
    }


async def run(lines: int, alerts: int, seed: int, root: Path) -> dict[str, Any]:
    import aiohttp

    from agents.sample_day import generate_day
    from bench.mining import machine
    from firmware_bridge.virtual_device import VirtualDevice
    from server.app import App

    host = machine()
    settings = isolated_settings(root, timezone="Asia/Shanghai")
    tz = ZoneInfo(settings.timezone)
    day = (datetime.now(tz).date() - timedelta(days=1)).isoformat()
    setup: dict[str, float] = {}

    app = App(settings)
    t = time.perf_counter()
    await app.start(run_pipeline=False)
    setup["app_start_s"] = round(time.perf_counter() - t, 2)
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
            raise RuntimeError(f"pipeline failed: {app.scheduler.last_results.get(settings.default_owner)}")
        incidents = [i for i in gen.ground_truth["incidents"] if i["type"] in EXPECTED]
        incidents.sort(key=lambda i: list(EXPECTED).index(i["type"]))  # the image-pull rollout first

        url = f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/"
        hook = f"http://127.0.0.1:{app.http_port}/webhooks/tencent/{app.webhook_token}"
        rows: list[dict[str, Any]] = []
        async with VirtualDevice(url, listen_mode="auto") as device, aiohttp.ClientSession() as http:
            await device.wake()
            for _ in range(200):  # the session registers right after the hello
                if any(s.channel is not None for s in app.services.sessions.values()):
                    break
                await asyncio.sleep(0.05)
            for n in range(alerts):
                rows.append(await one_alert(app, device, http, hook, incidents[n % len(incidents)], n))
                await asyncio.sleep(0.3)
    finally:
        await app.stop()

    timings = [r.pop("_t") for r in rows]
    cause_heard = [c for c in (r.pop("_cause_t") for r in rows) if c is not None]
    audio = [a for _, _, a in timings]
    p50 = _stats(audio)["p50"]
    return {
        "machine": host,
        "when": datetime.now().isoformat(timespec="seconds"),
        "day": day,
        "lines": gen.ground_truth["generated_lines"],
        "pipeline_lines": res.lines,
        "alerts": len(rows),
        "setup": setup,
        "latency_ms": {
            "post_to_http_200": _stats([h for h, _, _ in timings]),
            "post_to_first_sentence_start": _stats([s for _, s, _ in timings]),
            "post_to_first_audio": _stats(audio),
            # when the cause starts being heard: "HH:MM 的告警：… 出现故障" is played before it
            "post_to_second_sentence_start": _stats(cause_heard),
        },
        "trace_ms_max": max((r["trace_ms"] for r in rows if r["trace_ms"] is not None), default=None),
        "cause_found": sum(r["cause_found"] for r in rows),
        "cause_correct": sum(r["cause_correct"] for r in rows),
        "target": {
            "post_to_first_audio_p50_ms": TARGET_P50_S * 1000,
            "met": p50 is not None and p50 <= TARGET_P50_S * 1000,
        },
        "per_alert": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--alerts", type=int, default=10)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", default=None, help="work directory to keep (default: a temp dir, removed)")
    args = p.parse_args(argv)
    if args.alerts < 1:
        p.error("--alerts must be ≥ 1")
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="xops-a2v-"))
    try:
        result = asyncio.run(run(args.lines, args.alerts, args.seed, root))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(result, ensure_ascii=False, indent=1)
    print(text)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(text + "\n", encoding="utf-8")
    return 0 if result["target"]["met"] and result["cause_correct"] == result["alerts"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
