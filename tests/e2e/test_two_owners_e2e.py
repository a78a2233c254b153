"""Issue acceptance: one robot, two owners with their own COS buckets and key pairs. Each speaks "开始播报日志";
the voiceprint picks the owner, the owner's day is analysed on demand from *their* bucket (a local COS server
that verifies the SDK's signatures), and each hears their own summary. Secrets never surface."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from agents.sample_day import generate_day
from firmware_bridge.audio import read_wav
from firmware_bridge.virtual_device import VirtualDevice
from server.speech.text import speakable_sentences
from server.vault.store import CredentialsIn
from tests.e2e.voice import RATE, command, enrolment_clips
from tests.fakes.cos_server import FakeCosServer
from tests.paths import AUDIO

TZ = ZoneInfo("Asia/Shanghai")
F2 = AUDIO / "speakers" / "espeak_f2"
OWNERS = {
    "alice": {
        "sid": "AKIDalice0000000001",
        "skey": "alice-secret-key-0001",
        "bucket": "logs-a-1250000001",
        "seed": 31,
    },
    "bob": {
        "sid": "AKIDbob000000000002",
        "skey": "bob-secret-key-00002",
        "bucket": "logs-b-1250000002",
        "seed": 32,
    },
}


def wav(path: Path) -> np.ndarray:
    pcm, rate = read_wav(path)
    assert rate == RATE
    return pcm


async def broadcast_as(url: str, preroll: np.ndarray, utterance: np.ndarray, device_id: str) -> list[str]:
    """Ask for the broadcast; return what was said up to the third sentence of the summary, then stop it."""
    async with VirtualDevice(url, device_id=device_id) as device:
        await device.wake(preroll=preroll)
        await device.send_pcm(
            np.concatenate([utterance, np.zeros(RATE, dtype=np.int16)]), RATE, realtime=False
        )
        await device.wait_json("tts", "stop", timeout=60)  # "正在为您分析…"
        since = len(device.events)
        for _ in range(3):
            event = await device.wait_json("tts", "sentence_start", timeout=120, since=since)
            since = device.events.index(event) + 1
        await device.abort()
        return [e.message["text"] for e in device.received("tts", "sentence_start")]


async def test_each_owner_hears_their_own_summary_from_their_own_bucket(start_app, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    day = (datetime.now(TZ).date() - timedelta(days=1)).isoformat()
    truths = {}
    with FakeCosServer() as cos:
        for name, o in OWNERS.items():
            gen = generate_day(
                tmp_path / "gen", day, lines=12_000, seed=o["seed"], owner=name, local=False, cos=True
            )
            cos.add_user(o["sid"], o["skey"])
            cos.add_bucket(o["bucket"], [o["sid"]])
            assert cos.put_dir(o["bucket"], gen.cos_dir) > 0
            truths[name] = gen.ground_truth
        app = await start_app(cos_endpoint=f"http://{cos.ip}:{cos.port}")
        voices = {"alice": enrolment_clips(), "bob": [wav(F2 / f"enroll_{i}.wav") for i in (1, 2, 3)]}
        for name, o in OWNERS.items():
            owner = app.voiceprints.create_owner(name)
            await asyncio.to_thread(app.voiceprints.enrol, owner.id, voices[name])
            app.vault.bind(
                owner.id,
                CredentialsIn(
                    secret_id=o["sid"], secret_key=o["skey"], region="ap-guangzhou", bucket=o["bucket"]
                ),
            )
        url = f"ws://127.0.0.1:{app.ws_port}/xiaozhi/v1/"
        heard = {
            "alice": await broadcast_as(
                url, command("wake.wav"), command("broadcast.wav"), "aa:00:00:00:00:01"
            ),
            "bob": await broadcast_as(
                url, wav(F2 / "probe_audit.wav"), wav(F2 / "probe_broadcast.wav"), "aa:00:00:00:00:02"
            ),
        }
        # each owner's bucket was read with that owner's own key, and only that bucket
        for o in OWNERS.values():
            reqs = [r for r in cos.requests if r.bucket == o["bucket"]]
            assert reqs and all(r.secret_id == o["sid"] for r in reqs)

    summaries = {}
    for name, sentences in heard.items():
        assert "正在为您分析" in sentences[0], sentences  # told while the analysis runs
        summary = (app.settings.results_dir / day / name / "llm_summary.txt").read_text(encoding="utf-8")
        summaries[name] = summary
        assert sentences[1:4] == speakable_sentences(summary)[:3], (name, sentences)  # their own report
        bad_tag = next(i for i in truths[name]["incidents"] if i["type"] == "image_pull_failure")["details"][
            "bad_tag"
        ]
        assert bad_tag in summary  # …built from their own bucket's day
    tags = {
        n: next(i for i in truths[n]["incidents"] if i["type"] == "image_pull_failure")["details"]["bad_tag"]
        for n in OWNERS
    }
    assert tags["alice"] != tags["bob"]  # the two seeds broke different images…
    assert (
        tags["bob"] not in summaries["alice"] and tags["alice"] not in summaries["bob"]
    )  # …nothing crossed over

    # the keys never reached a log line, a result file or the data dir in plain text
    secrets = [o["skey"] for o in OWNERS.values()]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(s in logged for s in secrets)
    for root in (app.settings.data_dir, app.settings.results_dir):
        for path in Path(root).rglob("*"):
            if path.is_file() and path.stat().st_size < 50_000_000:
                data = path.read_bytes()
                assert not any(s.encode() in data for s in secrets), path
