"""Voices generated at test time with espeak-ng: new sentences of the enrolled voices, an unenrolled twin, and a
different voice at an owner's pitch. The shared clips were made with these settings (same voice, same pitch)."""

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from server.storage.db import Database
from server.voiceprint.audio import AudioError, decode_wav
from server.voiceprint.encoder import Utterance
from server.voiceprint.store import VoiceprintStore
from tests.voiceprint.conftest import enrol_clips

SETTINGS = {"espeak_f2": ("+f2", 60, 170), "espeak_m1": ("+m1", 25, 140), "espeak_m3": ("+m3", 40, 160)}
SENTENCES = [
    "确认回滚",
    "关联分析三类日志，找出问题根源",
    "最近有什么告警",
    "今天是星期几",
    "注册声纹",
    "详细说说事件日志",
]

pytestmark = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs espeak-ng and sox"
)


def synth(out: Path, variant: str, pitch: int, speed: int, text: str) -> bytes:
    wav = subprocess.run(
        [
            "espeak-ng",
            "-v",
            f"cmn-latn-pinyin{variant}",
            "-p",
            str(pitch),
            "-s",
            str(speed),
            "--stdout",
            text,
        ],
        check=True,
        capture_output=True,
    ).stdout
    # -D: no dither, so the clip (and the test) is the same on every run
    subprocess.run(
        ["sox", "-D", "-t", "wav", "-", "-r", "16000", "-c", "1", "-b", "16", str(out)], input=wav, check=True
    )
    return out.read_bytes()


@pytest.fixture(scope="module")
def voices(tmp_path_factory, encoder) -> dict[str, list[Utterance]]:
    tmp = tmp_path_factory.mktemp("espeak")
    out = {}
    for name, (variant, pitch, speed) in SETTINGS.items():
        out[name] = [
            encoder.analyse(decode_wav(synth(tmp / f"{name}_{i}.wav", variant, pitch, speed, t)))
            for i, t in enumerate(SENTENCES)
        ]
    # the default espeak voice at +m3's settings: another timbre, the same pitch
    out["default_at_m3"] = [
        encoder.analyse(decode_wav(synth(tmp / f"default_{i}.wav", "", 40, 160, t)))
        for i, t in enumerate(SENTENCES)
    ]
    return out


def enrolled(tmp: Path, encoder, names: list[str]) -> tuple[VoiceprintStore, dict[int, str]]:
    db = Database.sqlite(tmp / f"{'-'.join(names)}.sqlite3")
    db.create_all()
    store = VoiceprintStore(db, encoder)
    ids = {}
    for name in names:
        clips = enrol_clips("neural" if name == "commands" else name)
        ids[store.enrol(None, clips, name=name).owner_id] = name
    return store, ids


ALL = ["espeak_f2", "espeak_m1", "espeak_m3", "commands"]


def test_enrolled_voices_are_recognised_saying_new_sentences(tmp_path, encoder, voices) -> None:
    store, ids = enrolled(tmp_path, encoder, ALL)
    for name in SETTINGS:
        got = [ids.get(store.identify(u).owner_id) for u in voices[name]]
        assert got == [name] * len(SENTENCES), name


@pytest.mark.parametrize(("left_out", "twin"), [("espeak_m1", "espeak_m3"), ("espeak_m3", "espeak_m1")])
def test_an_unenrolled_twin_is_a_guest_on_nearly_every_sentence(
    tmp_path, encoder, voices, left_out, twin
) -> None:
    """Without the pitch check, +m1's sentences were all accepted as +m3 (embedding scores 0.83-0.87 vs 0.80).
    Known limit: the twins' pitch bands are only ~4 st apart, so a sentence whose intonation lands at the edge of
    the other's ±3 st band (+m1 saying 今天是星期几, +m3 saying 最近有什么告警: 2.9 st) can still pass."""
    store, ids = enrolled(tmp_path, encoder, [n for n in ALL if n != left_out])
    results = [store.identify(u) for u in voices[left_out]]
    assert all(r.candidate_id is not None and ids[r.candidate_id] == twin for r in results)
    accepted = [SENTENCES[i] for i, r in enumerate(results) if r.owner_id is not None]
    assert len(accepted) <= 1, accepted


@pytest.mark.xfail(
    strict=True,
    reason="known limit: espeak's default voice at +m3's pitch scores 0.87-0.90 on +m3's embedding, as high as "
    "+m3's own sentences, and its pitch matches; neither check can tell these synthetic timbres apart",
)
def test_a_different_voice_at_an_owners_pitch_is_a_guest(tmp_path, encoder, voices) -> None:
    store, _ = enrolled(tmp_path, encoder, ALL)
    assert [store.identify(u).owner_id for u in voices["default_at_m3"]] == [None] * len(SENTENCES)


def test_an_enrolment_clip_without_voicing_is_refused(store, voices) -> None:
    clips = list(voices["espeak_m3"][:3])
    clips[1] = replace(clips[1], pitch_hz=None)
    with pytest.raises(AudioError, match="clip 2: too little voiced speech"):
        store.enrol_embedded(None, clips, name="m3")
    assert store.list_owners() == []  # nothing was written
