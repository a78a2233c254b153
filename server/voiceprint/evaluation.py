"""Voiceprint evaluation over speaker directories: closed-set identification and leave-one-speaker-out.

A speaker directory holds ``enroll_*.wav`` (enrolment) and ``probe_*.wav`` (probes); if it has no probe_ files,
every other WAV is a probe (so /work/shared/audio/commands, one voice saying many commands, works too).

Every probe is identified on its own, exactly as the live product identifies one utterance: thresholds and pitch
bands come from the enrolment clips only.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from server.storage.db import Database
from server.voiceprint.audio import decode_wav
from server.voiceprint.encoder import Utterance, VoiceEncoder
from server.voiceprint.store import VoiceprintStore


@dataclass(frozen=True)
class SpeakerData:
    name: str
    enrol: list[tuple[str, np.ndarray]]
    probes: list[tuple[str, np.ndarray]]


def _is_speaker_dir(d: Path) -> bool:
    return d.is_dir() and any(d.glob("enroll_*.wav"))


def find_speakers(paths: list[Path]) -> list[SpeakerData]:
    """Each path is a speaker directory or a directory of speaker directories."""
    dirs: list[Path] = []
    for p in paths:
        if _is_speaker_dir(p):
            dirs.append(p)
        elif p.is_dir():
            dirs.extend(sorted(d for d in p.iterdir() if _is_speaker_dir(d)))
        else:
            raise FileNotFoundError(f"{p}: not a directory")
    speakers = []
    for d in dirs:
        enrol = sorted(d.glob("enroll_*.wav"))
        probes = sorted(d.glob("probe_*.wav")) or sorted(set(d.glob("*.wav")) - set(enrol))
        speakers.append(
            SpeakerData(
                name=d.name,
                enrol=[(f.name, decode_wav(f.read_bytes(), f.name)) for f in enrol],
                probes=[(f.name, decode_wav(f.read_bytes(), f.name)) for f in probes],
            )
        )
    names = [s.name for s in speakers]
    if len(set(names)) != len(names):
        raise ValueError(f"speaker directory names must be unique: {names}")
    return speakers


def _name(ids: dict[int, str], owner_id: int | None) -> str | None:
    return ids.get(owner_id) if owner_id is not None else None


def _enrolled_store(
    db_dir: Path, encoder: VoiceEncoder, emb: dict[str, list[Utterance]], names: list[str], tag: str
) -> tuple[VoiceprintStore, dict[int, str]]:
    db = Database.sqlite(db_dir / f"eval-{tag}.sqlite3")
    db.create_all()
    store = VoiceprintStore(db, encoder)
    ids = {}
    for name in names:
        owner = store.create_owner(name)
        store.enrol_embedded(owner.id, emb[name])
        ids[owner.id] = name
    return store, ids


def evaluate(speakers: list[SpeakerData], encoder: VoiceEncoder) -> dict:
    """Enrol everyone and identify every probe; then, per speaker, enrol all others and check that speaker's
    probes come back as guest. Returns a JSON-ready report."""
    t0 = time.perf_counter()
    enrol_emb = {s.name: [encoder.analyse(pcm) for _, pcm in s.enrol] for s in speakers}
    probe_emb = {s.name: [(f, encoder.analyse(pcm)) for f, pcm in s.probes] for s in speakers}
    names = [s.name for s in speakers]
    probes, thresholds = [], {}
    with tempfile.TemporaryDirectory(prefix="xops-vp-eval-") as tmp:
        store, ids = _enrolled_store(Path(tmp), encoder, enrol_emb, names, "all")
        thresholds = {ids[oid]: p.threshold for oid, p in store.profiles().items()}
        pitch = {
            ids[oid]: {"hz": p.pitch.hz, "tol_st": p.pitch.tol_st}
            for oid, p in store.profiles().items()
            if p.pitch is not None
        }
        for name in names:
            for fname, utt in probe_emb[name]:
                ident = store.identify(utt)
                got = _name(ids, ident.owner_id)
                probes.append(
                    {
                        "speaker": name,
                        "file": fname,
                        "identified": got,
                        "candidate": _name(ids, ident.candidate_id),
                        "score": ident.score,
                        "threshold": ident.threshold,
                        "margin": ident.margin,
                        "pitch_st": ident.pitch_st,
                        "reason": ident.reason,
                        "seconds": round(utt.speech_s, 2),
                    }
                )
        store.db.dispose()
        open_set = []
        if len(names) > 1:
            for out in names:
                others = [n for n in names if n != out]
                store, ids = _enrolled_store(Path(tmp), encoder, enrol_emb, others, f"without-{out}")
                for fname, utt in probe_emb[out]:
                    ident = store.identify(utt)
                    open_set.append(
                        {
                            "left_out": out,
                            "file": fname,
                            "accepted_as": _name(ids, ident.owner_id),
                            "closest": _name(ids, ident.candidate_id),
                            "score": ident.score,
                            "threshold": ident.threshold,
                            "pitch_st": ident.pitch_st,
                            "reason": ident.reason,
                        }
                    )
                store.db.dispose()
    correct = sum(p["identified"] == p["speaker"] for p in probes)
    fa = sum(p["identified"] is not None and p["identified"] != p["speaker"] for p in probes)
    fr = sum(p["identified"] is None for p in probes)
    osa = sum(t["accepted_as"] is not None for t in open_set)
    return {
        "speakers": names,
        "thresholds": thresholds,
        "pitch": pitch,
        "closed_set": {
            "probes": len(probes),
            "correct": correct,
            "accuracy": round(correct / len(probes), 4) if probes else 0.0,
            "false_accepts": fa,
            "false_rejects": fr,
        },
        "open_set": {"trials": len(open_set), "false_accepts": osa},
        "probe_results": probes,
        "open_set_results": open_set,
        "elapsed_s": round(time.perf_counter() - t0, 2),
    }


def format_report(report: dict) -> str:
    cs, os_ = report["closed_set"], report["open_set"]
    lines = [
        f"speakers: {', '.join(report['speakers'])}",
        "thresholds: " + ", ".join(f"{k}={v:.3f}" for k, v in report["thresholds"].items()),
        "pitch bands: "
        + ", ".join(f"{k}={v['hz']:.0f} Hz ±{v['tol_st']:.1f} st" for k, v in report["pitch"].items()),
        f"closed set: {cs['correct']}/{cs['probes']} correct (accuracy {cs['accuracy']:.1%}), "
        f"false accepts {cs['false_accepts']}, false rejects {cs['false_rejects']}",
        f"open set (leave-one-speaker-out): {os_['false_accepts']} false accepts in {os_['trials']} trials",
    ]
    for p in report["probe_results"]:
        if p["identified"] != p["speaker"]:
            lines.append(
                f"  MISS {p['speaker']}/{p['file']}: got {p['identified']} "
                f"(closest {p['candidate']} {p['score']:.3f} vs threshold {p['threshold']:.3f}; {p['reason']})"
            )
    for t in report["open_set_results"]:
        if t["accepted_as"] is not None:
            lines.append(
                f"  FALSE ACCEPT {t['left_out']}/{t['file']} as {t['accepted_as']} "
                f"({t['score']:.3f} vs threshold {t['threshold']:.3f}, pitch {t['pitch_st']:+.1f} st)"
            )
    vetoed = [t for t in report["open_set_results"] if (t["reason"] or "").startswith("pitch ")]
    if vetoed:
        lines.append(
            f"  (pitch check turned {len(vetoed)} open-set trials that cleared the embedding into guests)"
        )
    return "\n".join(lines)
