"""What the console pages read: a day's report (charts, incidents, audio), cases, devices, system, and the
voiceprint quality check, through a logged-in session on the real HTTP app."""

from __future__ import annotations

import io
import json
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.console.dayview import build_day_view, errors_by_hour
from server.speech.tts import EspeakTTS
from tests.console.rig import DAY, XSS, Rig, build_rig
from tests.http_auth import ADMIN_TOKEN

SPEAKERS = Path("/work/shared/audio/speakers")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Rig]]:
    r = build_rig(tmp_path)
    client = TestClient(TestServer(r.app, host="127.0.0.1"))
    await client.start_server()
    resp = await client.post("/console/login", json={"token": ADMIN_TOKEN})
    client.session.headers["X-CSRF-Token"] = (await resp.json())["csrf"]
    yield client, r
    await client.close()
    await r.notify.stop()


def test_errors_per_hour_split_each_template_over_its_workloads_by_share():
    hours = [0] * 24
    hours[3] = 10
    findings = [
        {
            "category": "error_template",
            "evidence": {"level": "ERROR", "hours": hours, "by_workload": {"a": 8, "b": 2}},
        },
        {
            "category": "error_template",
            "evidence": {"level": "WARN", "hours": hours, "by_workload": {"c": 10}},
        },
        {
            "category": "error_template",
            "evidence": {"level": "ERROR", "hours": [1, 2], "by_workload": {"d": 1}},
        },
    ]
    series = errors_by_hour(findings)
    assert list(series) == ["a", "b"]  # warnings and malformed hour lists are not errors per hour
    assert series["a"][3] == 8 and series["b"][3] == 2 and sum(series["a"]) == 8


def test_an_incident_shows_its_chain_in_time_order_with_evidence_lines():
    data = {
        "findings": [
            {"id": "late", "kind": "business", "first_ts": 20.0, "title": "errors", "examples": ["ERROR x"]},
            {"id": "early", "kind": "audit", "first_ts": 10.0, "title": "patch deploy"},
        ],
        "incidents": [{"rank": 1, "finding_ids": ["late", "early", "missing"], "cause_zh": "改坏了"}],
    }
    view = build_day_view("default", DAY, None, data)
    chain = view.incidents[0].chain
    assert [c["kind"] for c in chain] == ["audit", "business"] and view.incidents[0].evidence == ["ERROR x"]


async def test_report_of_a_day_gives_the_charts_and_incidents(rig):
    client, _ = rig
    rep = await (await client.get(f"/api/console/report?owner=default&day={DAY}")).json()
    assert rep["no_data"] is False and "57" in rep["summary"]
    assert rep["errors_by_hour"]["order-api"][3] > 0 and sum(rep["errors_by_hour"]["cart-api"]) > 0
    assert rep["findings_by_kind"] == {"audit": {"critical": 1}, "business": {"high": 1}}
    assert rep["incidents"][0]["chain"][0]["kind"] == "audit" and XSS in rep["incidents"][0]["evidence"][0]
    assert rep["audit_changes"][0]["user"] == "bob" and rep["top_templates"][0]["count"] == 57
    assert rep["audio"] is None and "not wired" in rep["audio_reason"]
    latest = await (await client.get("/api/console/report?owner=default")).json()
    assert latest["day"] == DAY
    missing = await (await client.get("/api/console/report?owner=default&day=2020-01-01")).json()
    assert missing["no_data"] is True  # "no data", never an empty all-clear
    other = await (await client.get("/api/console/report?owner=nobody")).json()
    assert other["no_data"] is True
    escape = await client.get("/api/console/report?owner=../../etc&day=2026-11-26")
    assert (await escape.json())["no_data"] is True


async def test_play_button_gets_the_summary_spoken_by_the_robots_tts(tmp_path: Path):
    tts = EspeakTTS()  # the offline engine of the robot's TTS chain
    r = build_rig(tmp_path, synthesize=tts.synthesize)
    async with TestClient(TestServer(r.app, host="127.0.0.1")) as client:
        await client.post("/console/login", json={"token": ADMIN_TOKEN})
        rep = await (await client.get(f"/api/console/report?owner=default&day={DAY}")).json()
        assert rep["audio"] and rep["audio"].startswith("/api/console/report/audio?")
        audio = await client.get(rep["audio"])
        assert audio.status == 200 and audio.content_type == "audio/wav"
        with wave.open(io.BytesIO(await audio.read())) as w:
            assert w.getframerate() == 16000 and w.getnframes() > 16000  # over a second of speech
        gone = await client.get("/api/console/report/audio?owner=default&day=2020-01-01")
        assert gone.status == 404
    await r.notify.stop()


async def test_case_detail_shows_timeline_attention_and_is_refused_for_approval(rig):
    client, r = rig
    case = r.cases.create_case(owner="default", title=f"order-api 5xx {XSS}", severity="critical")
    ack = await client.post(f"/api/cases/{case.id}/acknowledge")
    assert ack.status == 200
    detail = await (await client.get(f"/api/console/cases/{case.id}")).json()
    assert detail["attention"]["acked_by"] == "admin:token"
    assert any("已确认" in (t["detail"].get("text") or "") for t in detail["timeline"])
    approve = await client.post(
        f"/api/cases/{case.id}/transitions",
        json={"event": "approve"},
        headers={"If-Match": f'"{case.version}"'},
    )
    assert approve.status == 403  # approval stays voiceprint + spoken challenge
    park = await client.post(
        f"/api/cases/{case.id}/transitions",
        json={"event": "park", "payload": {"reason": "known issue"}},
        headers={"If-Match": f'"{detail["case"]["version"]}"'},
    )
    assert park.status == 200 and (await park.json())["case"]["status"] == "PARKED"
    assert (await client.get("/api/console/cases/99999")).status == 404


async def test_devices_and_system_say_what_is_there(rig):
    client, r = rig
    devices = await (await client.get("/api/console/devices")).json()
    assert devices == {"devices": []}
    r.cases.create_case(owner="default", title="open one")
    done = r.cases.create_case(owner="default", title="closed one")
    r.cases.transition(done.id, "park", None, "admin:t", None, {"reason": "known"})
    r.cases.transition(done.id, "close", None, "admin:t", None, {"reason": "fixed"})
    system = await (await client.get("/api/console/system")).json()
    assert system["health"] == "ok" and system["metrics"]["devices_online"] == 0
    assert system["metrics"]["open_cases"] == 1
    assert system["runs"][0]["day"] == DAY and system["runs"][0]["stage_seconds"]["parse"] == 0.5
    assert "deterministic" in system["fallbacks"]["llm"]
    offline = await client.post("/api/console/devices/aa:bb/announce", json={"text": "测试"})
    assert offline.status == 409


def _clip(path: Path) -> bytes:
    return path.read_bytes()


def _quiet(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        params, frames = w.getparams(), w.readframes(w.getnframes())
    pcm = (np.frombuffer(frames, dtype=np.int16) // 40).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setparams(params)
        out.writeframes(pcm.tobytes())
    return buf.getvalue()


async def test_voiceprint_quality_check_flags_quiet_clips_and_a_different_speaker(tmp_path: Path):
    from aiohttp import FormData

    from server.voiceprint.encoder import get_encoder

    r = build_rig(tmp_path, encoder=get_encoder())
    m1, f2 = SPEAKERS / "espeak_m1", SPEAKERS / "espeak_f2"
    async with TestClient(TestServer(r.app, host="127.0.0.1")) as client:
        resp = await client.post("/console/login", json={"token": ADMIN_TOKEN})
        h = {"X-CSRF-Token": (await resp.json())["csrf"]}

        def form(clips: list[tuple[str, bytes]]) -> FormData:
            fd = FormData()
            for name, data in clips:
                fd.add_field("clip", data, filename=name, content_type="audio/wav")
            return fd

        good = [(f"m1_{i}.wav", _clip(m1 / f"enroll_{i}.wav")) for i in (1, 2, 3)]
        ok = await (await client.post("/api/console/voiceprint/check", data=form(good), headers=h)).json()
        assert ok["ok"] is True and all(p["ok"] for p in ok["pairs"]), ok
        quiet = [*good[:2], ("quiet.wav", _quiet(m1 / "enroll_3.wav"))]
        q = await (await client.post("/api/console/voiceprint/check", data=form(quiet), headers=h)).json()
        assert q["ok"] is False and any("quiet" in p for p in q["clips"][2]["problems"])
        mixed = [*good[:2], ("f2.wav", _clip(f2 / "enroll_1.wav"))]
        m = await (await client.post("/api/console/voiceprint/check", data=form(mixed), headers=h)).json()
        assert m["ok"] is False and not all(p["ok"] for p in m["pairs"]), m
        # a timbre twin (espeak m3 beside m1) passes the embedding but not the pitch band of the other clips
        twin = [*good[:2], ("m3.wav", _clip(SPEAKERS / "espeak_m3" / "enroll_3.wav"))]
        tw = await (await client.post("/api/console/voiceprint/check", data=form(twin), headers=h)).json()
        assert tw["ok"] is False, tw
        two = await (
            await client.post("/api/console/voiceprint/check", data=form(good[:2]), headers=h)
        ).json()
        assert two["ok"] is False
    await r.notify.stop()


async def test_schedules_are_listed_created_and_cancelled_by_an_admin_only(rig):
    client, r = rig
    body = {"owner": "default", "kind": "broadcast", "hour": 9, "minute": 0, "weekdays": [0, 1, 2, 3, 4]}
    made = await client.post("/api/console/schedules", json=body)
    assert made.status == 201
    created = await made.json()
    assert created["describe_zh"] == "工作日9点播报日志" and created["created_by"] == "admin:token"
    listed = await (await client.get("/api/console/schedules")).json()
    assert [x["id"] for x in listed["schedules"]] == [created["id"]]
    bad = await client.post("/api/console/schedules", json={**body, "hour": 25})
    assert bad.status == 400
    assert (await client.delete(f"/api/console/schedules/{created['id']}")).status == 200
    assert r.schedules.store.active() == []
    assert (await client.delete(f"/api/console/schedules/{created['id']}")).status == 404


async def test_bucket_probe_lists_what_a_day_would_read_and_says_when_keys_are_refused(tmp_path: Path):
    from tests.fakes.cos_server import FakeCosServer

    good = ("AKIDprobe00000000000000000000000000", "probe-secret-key-DO-NOT-SHOW-123456")
    with FakeCosServer(region="ap-guangzhou") as cos:
        cos.add_user(*good)
        cos.add_bucket("logs-1250000000", [good[0]])
        cos.put(
            "logs-1250000000", "business/2026/11/26/03/202611260305_a.log", b'{"level":"error","msg":"x"}\n'
        )
        r = build_rig(tmp_path, cos_endpoint=f"http://127.0.0.1:{cos.port}")
        async with TestClient(TestServer(r.app, host="127.0.0.1")) as client:
            resp = await client.post("/console/login", json={"token": ADMIN_TOKEN})
            h = {"X-CSRF-Token": (await resp.json())["csrf"]}
            alice = await (await client.post("/api/owners", json={"name": "alice"}, headers=h)).json()
            creds = {
                "secret_id": good[0],
                "secret_key": good[1],
                "region": "ap-guangzhou",
                "bucket": "logs-1250000000",
            }
            await client.put(f"/api/owners/{alice['id']}/credentials", json=creds, headers=h)
            probe = await client.get(f"/api/console/owners/{alice['id']}/probe?day={DAY}")
            body = await probe.json()
            assert probe.status == 200 and body["reachable"] is True, body
            business = next(k for k in body["kinds"] if k["kind"] == "business")
            assert business["sample"] == ["business/2026/11/26/03/202611260305_a.log"]
            assert good[1] not in await probe.text()
            wrong = {**creds, "secret_key": "wrong-secret-key-000000000000000000"}
            await client.put(f"/api/owners/{alice['id']}/credentials", json=wrong, headers=h)
            refused = await (await client.get(f"/api/console/owners/{alice['id']}/probe?day={DAY}")).json()
            assert refused["reachable"] is False and all(k["error"] for k in refused["kinds"])
            assert "wrong-secret" not in json.dumps(refused) and good[0] not in json.dumps(refused)
        await r.notify.stop()
