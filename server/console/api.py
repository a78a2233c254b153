"""The console's own JSON under /api/console/: what has no REST route yet (reports of a day, devices online,
system status, a voiceprint quality check). Behind the same HTTP guard and permissions as every /api route."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import platform
import re
import time
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import metadata
from itertools import combinations
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import numpy as np
from aiohttp import BodyPartReader, web
from pydantic import ValidationError

from agents.records import LogKind
from server.auth.principal import Permission
from server.cases.fsm import State
from server.console.dayview import build_day_view
from server.console.services import ConsoleServices
from server.console.sessions import ConsoleSessions
from server.delivery import parse_device_owners
from server.schedules.models import Schedule, ScheduleIn
from server.tools.device import STATUS_TOOL, VOLUME_TOOL
from server.vault.auth import principal_of, requires
from server.voice.channel import DeviceToolError, SpeechChunk
from server.voice.registry import DeviceOfflineError
from server.voiceprint.audio import AudioError, decode_wav
from server.voiceprint.pitch import reference
from server.voiceprint.scoring import FLOOR, GENUINE_MARGIN, MIN_CLIPS
from server.voiceprint.store import OwnerError

if TYPE_CHECKING:
    from server.voice.transport import DeviceConnection

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_CLIPS = 10
MAX_CLIP_BYTES = 2 * 1024 * 1024
MIN_CLIP_S = 1.5  # seconds of speech a clip needs
MIN_LOUDNESS_DBFS = -40.0
# two clips must score at least what identification's lowest threshold allows (scoring.FLOOR) minus the margin
# the enrolment takes off the genuine estimate; below it the new voiceprint's threshold would sit on its floor
MIN_SIMILARITY = FLOOR - GENUINE_MARGIN
RUNS_SHOWN = 7
PROBE_TIMEOUT_S = 20.0
PROBE_SAMPLE = 5
AUDIO_RATE = 16000
MAX_SPOKEN_CHARS = 2000


def wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype=np.int16).tobytes())
    return buf.getvalue()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def clip_quality(pcm: np.ndarray, sample_rate: int = 16000) -> dict[str, float]:
    """Length and loudness of one decoded clip (int16). Loudness is the 90th percentile of 30 ms frame RMS in
    dBFS, so leading/trailing silence does not make a clip look quiet."""
    seconds = len(pcm) / sample_rate
    x = pcm.astype(np.float64) / 32768.0
    frame = int(0.03 * sample_rate)
    n = len(x) // frame
    if n == 0:
        return {"seconds": round(seconds, 2), "dbfs": -120.0}
    rms = np.sqrt(np.mean(np.square(x[: n * frame].reshape(n, frame)), axis=1))
    level = float(np.percentile(rms, 90))
    dbfs = 20 * np.log10(level) if level > 0 else -120.0
    return {"seconds": round(seconds, 2), "dbfs": round(float(dbfs), 1)}


def setup_console_api(app: web.Application, services: ConsoleServices, sessions: ConsoleSessions) -> None:
    read = requires(Permission.READ)
    decide = requires(Permission.DECIDE)
    configure = requires(Permission.CONFIGURE)
    s = services

    async def whoami(request: web.Request) -> web.Response:
        principal = principal_of(request)
        assert principal is not None
        session = sessions.session_of(request)
        return web.json_response(
            {
                "name": principal.name,
                "role": principal.role.value,
                "via": principal.via.value,
                "permissions": sorted(p.value for p in principal.role.permissions),
                "csrf": session.csrf if session else None,
            }
        )

    def _owners() -> list[str]:
        names = list(s.owner_names()) if s.owner_names else []
        if s.settings.default_owner not in names:
            names.insert(0, s.settings.default_owner)
        return names

    async def days(request: web.Request) -> web.Response:
        owners = await asyncio.to_thread(_owners)
        return web.json_response({"owners": owners, "days": {o: s.reports.days(o)[:60] for o in owners}})

    async def report(request: web.Request) -> web.Response:
        owner = request.query.get("owner") or s.settings.default_owner
        day = request.query.get("day", "")
        if not _DAY.match(day):
            found = s.reports.days(owner)
            if not found:
                return web.json_response({"owner": owner, "day": None, "no_data": True})
            day = found[0]
        summary = s.reports.summary(owner, day)
        data = await asyncio.to_thread(s.reports.findings, owner, day)
        if data is None and summary is None:
            return web.json_response({"owner": owner, "day": day, "no_data": True})
        view = build_day_view(owner, day, summary.text if summary else None, data or {})
        audio, reason = None, ""
        if summary is None:
            reason = "no spoken summary for this day"
        elif s.synthesize is None:
            reason = "text-to-speech is not wired to the console"
        else:
            audio = f"/api/console/report/audio?{urlencode({'owner': owner, 'day': day})}"
        return web.json_response({**view.to_dict(), "no_data": False, "audio": audio, "audio_reason": reason})

    async def report_audio(request: web.Request) -> web.StreamResponse:
        """The day's summary spoken by the robot's own TTS (same text, same engine), as WAV."""
        owner = request.query.get("owner") or s.settings.default_owner
        day = request.query.get("day", "")
        summary = s.reports.summary(owner, day) if _DAY.match(day) else None
        if summary is None:
            return _error(404, "no spoken summary for this day")
        if s.synthesize is None:
            return _error(503, "text-to-speech is not wired to the console")
        pcm = await s.synthesize(summary.text[:MAX_SPOKEN_CHARS], AUDIO_RATE)
        if not pcm.size:
            return _error(503, "text-to-speech produced no audio")
        return web.Response(body=wav_bytes(pcm, AUDIO_RATE), content_type="audio/wav")

    async def case_detail(request: web.Request) -> web.Response:
        if s.cases is None:
            return _error(503, "cases are not available")
        raw = request.match_info["case_id"]
        if not raw.isdigit() or len(raw) > 12:
            return _error(404, "no such case")
        case = await asyncio.to_thread(s.cases.get_case, int(raw))
        if case is None:
            return _error(404, "no such case")
        timeline = await asyncio.to_thread(s.cases.timeline, case.id)
        out: dict[str, Any] = {
            "case": case.to_dict(),
            "timeline": [t.to_dict() for t in timeline],
            "attention": None,
            "deliveries": [],
            "notify_available": s.notify is not None,
        }
        if s.notify is not None:
            att = await asyncio.to_thread(s.notify.attention.get, case.id)
            out["attention"] = {
                "acked_by": att.acked_by,
                "acked_at": att.acked_at.isoformat() if att.acked_at else None,
                "snoozed_until": att.snoozed_until.isoformat() if att.snoozed_until else None,
            }
            entries = await asyncio.to_thread(s.notify.notes_log.entries, case.id)
            out["deliveries"] = [
                {
                    "rung": e.rung,
                    "channel": e.channel,
                    "kind": e.kind,
                    "status": str(e.status),
                    "detail": e.detail,
                    "attempts": e.attempts,
                    "at": e.at.isoformat(),
                }
                for e in entries
            ]
        return web.json_response(out, headers={"ETag": f'"{case.version}"'})

    async def devices(request: web.Request) -> web.Response:
        now_wall, now_mono = datetime.now(UTC), time.monotonic()
        bound = parse_device_owners(s.settings.device_owners)  # XOPS_DEVICE_OWNERS: device id → owner
        rows: dict[str, dict[str, Any]] = {}
        for channel in s.registry.channels():
            info = channel.info
            server_info = getattr(channel.mcp, "server_info", None) or {}
            last = float(getattr(channel, "last_received", now_mono))
            rows[info.device_id] = {
                "device_id": info.device_id,
                "online": True,
                # the MQTT gateway's channel carries a UDP session; the WebSocket one does not
                "transport": "mqtt+udp" if getattr(channel, "udp", None) is not None else "websocket",
                "firmware": str(server_info.get("version", "") or ""),
                "board": str(server_info.get("name", "") or ""),
                "remote": info.remote,
                "state": str(channel.device_state),
                "last_seen": (now_wall - timedelta(seconds=max(0.0, now_mono - last))).isoformat(),
                "mcp": bool(info.features.get("mcp")),
            }
        if s.devices is not None:
            for status in await asyncio.to_thread(s.devices.devices):
                rows.setdefault(
                    status.device_id,
                    {
                        "device_id": status.device_id,
                        "online": False,
                        "transport": "",
                        "firmware": "",
                        "board": "",
                        "remote": "",
                        "state": "",
                        "last_seen": None,
                        "mcp": False,
                    },
                )["activated"] = status.activated
        for row in rows.values():
            row["owner"] = bound.get(row["device_id"].lower(), bound.get(row["device_id"], ""))
        listed = sorted(rows.values(), key=lambda r: (not r["online"], r["device_id"]))
        return web.json_response({"devices": listed})

    def _online(request: web.Request) -> DeviceConnection:
        channel = s.registry.get(request.match_info["device_id"])
        if channel is None:
            raise web.HTTPConflict(
                text=json.dumps({"error": f"device {request.match_info['device_id'][:64]} is offline"}),
                content_type="application/json",
            )
        return channel

    async def device_status(request: web.Request) -> web.Response:
        channel = _online(request)
        try:
            status = await channel.call_device_tool(STATUS_TOOL, {})
        except DeviceToolError as exc:
            return _error(502, f"the device did not answer: {exc}")
        if isinstance(status, str):
            with contextlib.suppress(ValueError):  # the firmware answers a JSON text
                status = json.loads(status)
        return web.json_response({"device_id": channel.info.device_id, "status": status})

    async def device_volume(request: web.Request) -> web.Response:
        channel = _online(request)
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body must be JSON")
        volume = body.get("volume") if isinstance(body, dict) else None
        if not isinstance(volume, int) or isinstance(volume, bool) or not 0 <= volume <= 100:
            return _error(400, "volume: an integer 0..100")
        try:
            await channel.call_device_tool(VOLUME_TOOL, {"volume": volume})
        except DeviceToolError as exc:
            return _error(502, f"the device refused: {exc}")
        return web.json_response({"device_id": channel.info.device_id, "volume": volume})

    async def announce(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body must be JSON")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not 0 < len(text.strip()) <= 200:
            return _error(400, "text: 1..200 characters")
        device_id = request.match_info["device_id"]
        if s.registry.get(device_id) is None:
            return _error(409, f"device {device_id} is offline")
        if s.synthesize is None:
            return _error(503, "text-to-speech is not wired to the console")
        pcm = await s.synthesize(text.strip(), AUDIO_RATE)
        if not pcm.size:
            return _error(503, "text-to-speech produced no audio")

        async def one_chunk() -> AsyncIterator[SpeechChunk]:
            yield SpeechChunk(text.strip(), pcm, AUDIO_RATE)

        try:
            await s.registry.speak(device_id, one_chunk())
        except DeviceOfflineError as exc:
            return _error(409, str(exc))
        return web.json_response({"device_id": device_id, "spoken": text.strip()})

    async def system(request: web.Request) -> web.Response:
        settings = s.settings
        runs = []
        for owner in await asyncio.to_thread(_owners):
            for day in s.reports.days(owner)[:RUNS_SHOWN]:
                data = await asyncio.to_thread(s.reports.findings, owner, day) or {}
                runs.append(
                    {
                        "owner": owner,
                        "day": day,
                        "stage_seconds": data.get("stage_seconds", {}),
                        "no_logs": bool(data.get("no_logs")),
                        "findings": len(data.get("findings", [])),
                    }
                )
        runs.sort(key=lambda r: r["day"], reverse=True)
        runs = runs[: RUNS_SHOWN * 3]
        open_cases = None
        if s.cases is not None:
            listed = await asyncio.to_thread(s.cases.list_cases, owner=None, status=None, limit=500)
            open_cases = sum(1 for c in listed if c.status is not State.CLOSED)
        fallbacks = {
            "llm": "configured"
            if settings.llm_enabled
            else "none: deterministic analyst and rule-based replies",
            **s.fallbacks(),
        }
        return web.json_response(
            {
                "health": "ok",
                "started_at": s.started_at.isoformat() if s.started_at else None,
                "versions": {
                    "xiaozhi-ops": _version("xiaozhi-ops"),
                    "python": platform.python_version(),
                    "aiohttp": _version("aiohttp"),
                },
                "fallbacks": fallbacks,
                "metrics": {"devices_online": len(s.registry.online()), "open_cases": open_cases},
                "runs": runs,
                "schedules": s.schedules is not None,
                "pipeline_cron": str(getattr(settings, "pipeline_cron", "") or ""),
            }
        )

    async def voiceprint_check(request: web.Request) -> web.Response:
        if s.voiceprints is None:
            return _error(503, "voiceprints are not available")
        if not request.content_type.startswith("multipart/"):
            return _error(400, "upload WAV clips as multipart/form-data")
        clips: list[tuple[str, np.ndarray]] = []
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader) or not part.filename:
                    continue
                if len(clips) >= MAX_CLIPS:
                    return _error(400, f"at most {MAX_CLIPS} clips")
                data = await part.read()
                if len(data) > MAX_CLIP_BYTES:
                    return _error(400, f"{part.filename}: larger than 2 MiB")
                clips.append((part.filename, decode_wav(bytes(data), part.filename)))
        except AudioError as exc:
            return _error(400, str(exc))
        except ValueError as exc:
            return _error(400, f"malformed multipart upload: {exc}")
        if not clips:
            return _error(400, "no clips")
        encoder = s.voiceprints.encoder
        report: list[dict[str, Any]] = []
        vectors: list[np.ndarray | None] = []
        pitches: list[float | None] = []
        for name, pcm in clips:
            q: dict[str, Any] = {"name": name, **clip_quality(pcm)}
            problems = []
            try:
                utt = await asyncio.to_thread(encoder.analyse, pcm)
                q["speech_s"] = round(float(utt.speech_s), 2)
                vectors.append(utt.vector)
                pitches.append(utt.pitch_hz)
            except AudioError as exc:
                problems.append(str(exc))
                q["speech_s"] = 0.0
                vectors.append(None)
                pitches.append(None)
            if q["speech_s"] < MIN_CLIP_S:
                problems.append(f"less than {MIN_CLIP_S} s of speech")
            if q["dbfs"] < MIN_LOUDNESS_DBFS:
                problems.append(f"too quiet ({q['dbfs']} dBFS < {MIN_LOUDNESS_DBFS})")
            q["problems"] = problems
            report.append(q)
        pairs = []
        for (i, a), (j, b) in combinations(enumerate(vectors), 2):
            if a is None or b is None:
                continue
            sim = float(np.dot(a, b))
            pairs.append({"a": i, "b": j, "similarity": round(sim, 3), "ok": sim >= MIN_SIMILARITY})
        # each clip's pitch must sit in the band the other clips define (what identification will veto on)
        for i, q in enumerate(report):
            others = [p for k, p in enumerate(pitches) if k != i and p is not None]
            if pitches[i] is not None and len(others) >= 2 and not reference(others).accepts(pitches[i]):
                q["problems"].append("pitch differs from the other clips (another voice?)")
        ok = (
            len(clips) >= MIN_CLIPS and all(not q["problems"] for q in report) and all(p["ok"] for p in pairs)
        )
        return web.json_response({"clips": report, "pairs": pairs, "ok": ok, "min_clips": MIN_CLIPS})

    async def probe_logs(request: web.Request) -> web.Response:
        """What the nightly run would read for one day with this owner's keys: per kind, the objects found."""
        if s.voiceprints is None or s.log_source is None:
            return _error(503, "log sources are not available")
        raw = request.match_info["owner_id"]
        try:
            owner = await asyncio.to_thread(s.voiceprints.get_owner, int(raw))
        except (ValueError, LookupError, OwnerError):
            return _error(404, "unknown owner")
        day = request.query.get("day") or ""
        if not _DAY.match(day):
            return _error(400, "day: YYYY-MM-DD")
        source = await asyncio.to_thread(s.log_source, owner.name)
        if source is None:
            return _error(404, "no keys bound and no local logs for this owner")
        kinds = []
        for kind in LogKind:
            entry: dict[str, Any] = {
                "kind": kind.value,
                "objects": 0,
                "bytes": 0,
                "sample": [],
                "error": None,
            }
            try:
                refs = await asyncio.wait_for(
                    asyncio.to_thread(source.list_objects, kind, day), PROBE_TIMEOUT_S
                )
                entry["objects"] = len(refs)
                entry["bytes"] = sum(max(r.size, 0) for r in refs)
                entry["sample"] = [r.key for r in refs[:PROBE_SAMPLE]]
            except TimeoutError:
                entry["error"] = f"no answer within {PROBE_TIMEOUT_S:.0f} s"
            except Exception as exc:  # an unreachable bucket or refused keys: say so, keep the others
                entry["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            kinds.append(entry)
        reachable = any(k["error"] is None for k in kinds)
        return web.json_response({"owner": owner.name, "day": day, "reachable": reachable, "kinds": kinds})

    async def delete_voiceprint(request: web.Request) -> web.Response:
        if s.voiceprints is None:
            return _error(503, "voiceprints are not available")
        raw = request.match_info["owner_id"]
        if not raw.isdigit():
            return _error(404, "unknown owner")
        await asyncio.to_thread(s.voiceprints.delete_voiceprint, int(raw))
        return web.json_response({"owner_id": int(raw), "voiceprint": "deleted"})

    # -- spoken schedules (the same store the robot's "每天早上九点播报日志" writes) --------------------------
    def _schedule_json(sc: Schedule) -> dict[str, Any]:
        return {
            "id": sc.id,
            **sc.spec.model_dump(mode="json"),
            "describe_zh": sc.describe_zh(),
            "created_by": sc.created_by,
            "created_at": sc.created_at.isoformat(),
        }

    async def list_schedules(request: web.Request) -> web.Response:
        if s.schedules is None:
            return _error(503, "schedules are not available")
        owner = request.query.get("owner") or None
        found = await asyncio.to_thread(s.schedules.store.active, owner)
        return web.json_response({"schedules": [_schedule_json(x) for x in found]})

    async def create_schedule(request: web.Request) -> web.Response:
        if s.schedules is None:
            return _error(503, "schedules are not available")
        try:
            spec = ScheduleIn.model_validate(await request.json())
        except ValueError as exc:  # invalid JSON or a ValidationError
            errors = exc.errors() if isinstance(exc, ValidationError) else None
            return _error(400, str(errors[0]["msg"]) if errors else "body must be JSON")
        principal = principal_of(request)
        assert principal is not None
        created = await asyncio.to_thread(s.schedules.store.add, spec, principal.actor)
        s.schedules.added(created)
        return web.json_response(_schedule_json(created), status=201)

    async def cancel_schedule(request: web.Request) -> web.Response:
        if s.schedules is None:
            return _error(503, "schedules are not available")
        raw = request.match_info["schedule_id"]
        if not raw.isdigit() or not await asyncio.to_thread(s.schedules.store.cancel, int(raw)):
            return _error(404, "no such active schedule")
        s.schedules.cancelled(int(raw))
        return web.json_response({"id": int(raw), "cancelled": True})

    r = app.router
    r.add_get("/api/console/schedules", read(list_schedules))
    r.add_post("/api/console/schedules", configure(create_schedule))
    r.add_delete("/api/console/schedules/{schedule_id}", configure(cancel_schedule))
    r.add_get("/api/console/whoami", read(whoami))
    r.add_get("/api/console/days", read(days))
    r.add_get("/api/console/report", read(report))
    r.add_get("/api/console/report/audio", read(report_audio))
    r.add_get("/api/console/cases/{case_id}", read(case_detail))
    r.add_get("/api/console/devices", read(devices))
    r.add_post("/api/console/devices/{device_id}/announce", decide(announce))
    r.add_get("/api/console/devices/{device_id}/status", read(device_status))
    r.add_post("/api/console/devices/{device_id}/volume", decide(device_volume))
    r.add_get("/api/console/system", read(system))
    r.add_post("/api/console/voiceprint/check", configure(voiceprint_check))
    r.add_delete("/api/console/owners/{owner_id}/voiceprint", configure(delete_voiceprint))
    r.add_get("/api/console/owners/{owner_id}/probe", configure(probe_logs))
