"""Owner profiles and voiceprints in the database (SQLAlchemy Core on the shared metadata).

Enrolment computes every embedding before touching the database, then writes the owner's voiceprint and the
recalibrated thresholds of every owner in one transaction: a bad clip loses nothing.

The ``clips`` blob keeps each enrolment clip's window embeddings and median pitch, so thresholds and pitch bands
are recomputed from stored data, never from probes.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from agents.owner_ids import InvalidOwnerName, validate_owner_name
from server.storage.db import Database, metadata
from server.voiceprint.audio import AudioError
from server.voiceprint.encoder import Utterance, VoiceEncoder
from server.voiceprint.pitch import PitchRef, reference
from server.voiceprint.scoring import MIN_CLIPS, Identification, Profile, calibrate, centroid, decide

log = logging.getLogger(__name__)

MODEL_NAME = (
    "resemblyzer-median-pitch-v2"  # stored with each voiceprint; a new scoring scheme means re-enrolment
)

owners = Table(
    "owners",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),  # the owner key used by reports, cases, paths
    Column("role", String(32), nullable=False, default="owner"),
    Column("can_approve", Boolean, nullable=False, default=False),  # may approve sensitive actions
    Column("created_at", DateTime(timezone=True), nullable=False),
)

voiceprints = Table(
    "voiceprints",
    metadata,
    Column("owner_id", Integer, ForeignKey("owners.id", ondelete="CASCADE"), primary_key=True),
    Column("centroid", LargeBinary, nullable=False),  # float32[256]
    Column(
        "clips", LargeBinary, nullable=False
    ),  # npz: per-clip window embeddings + median pitch (recalibration)
    Column("n_samples", Integer, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("model", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class OwnerError(ValueError):
    """Bad owner request (unknown owner, duplicate or invalid name)."""


@dataclass(frozen=True)
class Owner:
    id: int
    name: str
    role: str
    can_approve: bool
    created_at: datetime
    enrolled: bool = False
    threshold: float | None = None
    n_samples: int = 0

    def public(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "can_approve": self.can_approve,
            "created_at": self.created_at.isoformat(),
            "enrolled": self.enrolled,
            "threshold": self.threshold,
            "n_samples": self.n_samples,
        }


@dataclass(frozen=True)
class EnrolmentResult:
    owner_id: int
    n_samples: int
    threshold: float
    genuine: float  # leave-one-out genuine estimate
    impostor: float  # closest other owner's score
    thresholds: dict[int, float]  # every owner's threshold after recalibration
    pitch: PitchRef  # the owner's pitch band


def _pack_vector(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype="<f4").tobytes()


def _unpack_vector(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f4").astype(np.float32)


def _pack_clips(clips: Sequence[np.ndarray], pitch_hz: Sequence[float]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, *[np.asarray(c, dtype="<f4") for c in clips], pitch=np.asarray(pitch_hz, dtype="<f8"))
    return buf.getvalue()


def _unpack_clips(b: bytes) -> tuple[list[np.ndarray], list[float] | None]:
    """(window embeddings per clip, median pitch per clip or None for a v1 voiceprint without pitch)."""
    with np.load(io.BytesIO(b), allow_pickle=False) as z:
        n = sum(f.startswith("arr_") for f in z.files)
        clips = [z[f"arr_{i}"].astype(np.float32) for i in range(n)]
        pitch = [float(x) for x in z["pitch"]] if "pitch" in z.files else None
    return clips, pitch


def _checked(utterances: Sequence[Utterance]) -> list[float]:
    """The clips' pitches; raises when a clip has too little voiced speech to measure one."""
    pitches = []
    for i, u in enumerate(utterances, start=1):
        if u.pitch_hz is None:
            raise AudioError(f"clip {i}: too little voiced speech to measure the voice's pitch")
        pitches.append(u.pitch_hz)
    return pitches


def _now() -> datetime:
    return datetime.now(UTC)


def _as_utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)  # SQLite returns naive datetimes


class VoiceprintStore:
    """Owners + voiceprints. Identification reads an in-memory copy of the profiles (centroid + threshold),
    reloaded after every enrolment."""

    def __init__(self, db: Database, encoder: VoiceEncoder) -> None:
        self.db = db
        self.encoder = encoder
        self._profiles: dict[int, Profile] | None = None
        self._lock = threading.Lock()

    # ---- owners ----
    def create_owner(self, name: str, *, role: str = "owner", can_approve: bool = False) -> Owner:
        try:
            name = validate_owner_name(name)  # the one rule every script shares (agents.owner_ids)
        except InvalidOwnerName as exc:
            raise OwnerError(str(exc)) from None
        created_at = _now()
        try:
            with self.db.engine.begin() as conn:
                key = conn.execute(
                    insert(owners).values(
                        name=name, role=role, can_approve=can_approve, created_at=created_at
                    )
                ).inserted_primary_key
        except IntegrityError as exc:
            raise OwnerError(f"owner {name!r} already exists") from exc
        assert key is not None  # a single-row INSERT always reports its key
        return Owner(id=int(key[0]), name=name, role=role, can_approve=can_approve, created_at=created_at)

    def list_owners(self) -> list[Owner]:
        q = select(owners, voiceprints.c.threshold, voiceprints.c.n_samples).outerjoin(
            voiceprints, voiceprints.c.owner_id == owners.c.id
        )
        with self.db.engine.connect() as conn:
            return [self._owner(r) for r in conn.execute(q.order_by(owners.c.id)).mappings()]

    def get_owner(self, ref: int | str) -> Owner:
        """By id (int or digit string) or by name."""
        q = select(owners, voiceprints.c.threshold, voiceprints.c.n_samples).outerjoin(
            voiceprints, voiceprints.c.owner_id == owners.c.id
        )
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            q = q.where(owners.c.id == int(ref))
        else:
            q = q.where(owners.c.name == str(ref).strip())
        with self.db.engine.connect() as conn:
            row = conn.execute(q).mappings().first()
        if row is None:
            raise OwnerError(f"unknown owner {ref!r}")
        return self._owner(row)

    @staticmethod
    def _owner(r) -> Owner:  # r: a SQLAlchemy row mapping
        return Owner(
            id=r["id"],
            name=r["name"],
            role=r["role"],
            can_approve=bool(r["can_approve"]),
            created_at=_as_utc(r["created_at"]),
            enrolled=r["threshold"] is not None,
            threshold=r["threshold"],
            n_samples=r["n_samples"] or 0,
        )

    # ---- enrolment ----
    def embed_clips(self, clips: Sequence[np.ndarray | bytes]) -> list[Utterance]:
        """Embed every clip or raise AudioError naming the first bad one (nothing is written)."""
        if len(clips) < MIN_CLIPS:
            raise AudioError(f"need at least {MIN_CLIPS} clips, got {len(clips)}")
        out = []
        for i, clip in enumerate(clips, start=1):
            try:
                out.append(self.encoder.analyse(clip))
            except AudioError as exc:
                raise AudioError(f"clip {i}: {exc}") from exc
        _checked(out)
        return out

    def enrol(
        self, owner_id: int | None, clips: Sequence[np.ndarray | bytes], *, name: str | None = None
    ) -> EnrolmentResult:
        """(Re-)enrol an owner from ≥3 clips; creates the owner first when ``owner_id`` is None and ``name`` is
        given. Replaces any earlier voiceprint only after every clip has been embedded successfully."""
        return self.enrol_embedded(owner_id, self.embed_clips(clips), name=name)

    def enrol_embedded(
        self, owner_id: int | None, utterances: Sequence[Utterance], *, name: str | None = None
    ) -> EnrolmentResult:
        """``enrol`` for clips already run through the encoder (evaluation, or a dialogue that embedded them)."""
        if len(utterances) < MIN_CLIPS:
            raise AudioError(f"need at least {MIN_CLIPS} clips, got {len(utterances)}")
        pitches = _checked(utterances)
        if owner_id is None:
            if not name:
                raise OwnerError("enrol needs an owner id or a name")
            try:
                owner_id = self.get_owner(name).id
            except OwnerError:
                owner_id = self.create_owner(name).id
        else:
            self.get_owner(owner_id)  # raises for unknown owners
        return self._store(owner_id, [u.partials for u in utterances], pitches)

    def _store(self, owner_id: int, clips: list[np.ndarray], pitch_hz: list[float]) -> EnrolmentResult:
        pitch = reference(pitch_hz)
        with self._lock, self.db.engine.begin() as conn:
            rows = conn.execute(select(voiceprints.c.owner_id, voiceprints.c.clips)).all()
            all_clips = {r.owner_id: _unpack_clips(r.clips)[0] for r in rows}
            all_clips[owner_id] = clips
            thresholds: dict[int, float] = {}
            mine = None
            for oid, own in all_clips.items():
                others = [cs for other, cs in all_clips.items() if other != oid]
                cal = calibrate(own, others)
                thresholds[oid] = cal.threshold
                if oid == owner_id:
                    mine = cal
            assert mine is not None
            row = {
                "centroid": _pack_vector(centroid([c.mean(axis=0) for c in clips])),
                "clips": _pack_clips(clips, pitch_hz),
                "n_samples": len(clips),
                "threshold": mine.threshold,
                "model": MODEL_NAME,
                "updated_at": _now(),
            }
            if owner_id in {r.owner_id for r in rows}:
                conn.execute(update(voiceprints).where(voiceprints.c.owner_id == owner_id).values(**row))
            else:
                conn.execute(insert(voiceprints).values(owner_id=owner_id, **row))
            for oid, thr in thresholds.items():
                if oid != owner_id:
                    conn.execute(
                        update(voiceprints).where(voiceprints.c.owner_id == oid).values(threshold=thr)
                    )
            self._profiles = None
        log.info(
            "voiceprint enrolled owner=%s clips=%d threshold=%.3f (genuine %.3f, closest other %.3f) "
            "pitch %.0f Hz ±%.1f st",
            owner_id,
            len(clips),
            mine.threshold,
            mine.genuine,
            mine.impostor,
            pitch.hz,
            pitch.tol_st,
        )
        return EnrolmentResult(
            owner_id=owner_id,
            n_samples=len(clips),
            threshold=mine.threshold,
            genuine=mine.genuine,
            impostor=mine.impostor,
            thresholds=thresholds,
            pitch=pitch,
        )

    def delete_voiceprint(self, owner_id: int) -> None:
        with self._lock, self.db.engine.begin() as conn:
            conn.execute(voiceprints.delete().where(voiceprints.c.owner_id == owner_id))
            self._profiles = None

    # ---- identification ----
    def profiles(self) -> dict[int, Profile]:
        with self._lock:
            if self._profiles is None:
                with self.db.engine.connect() as conn:
                    rows = conn.execute(
                        select(
                            voiceprints.c.owner_id,
                            voiceprints.c.centroid,
                            voiceprints.c.threshold,
                            voiceprints.c.clips,
                        )
                    ).all()
                profiles = {}
                for r in rows:
                    pitch_hz = _unpack_clips(r.clips)[1]
                    if pitch_hz is None:
                        log.warning("voiceprint of owner %s has no pitch reference: re-enrol", r.owner_id)
                    pitch = reference(pitch_hz) if pitch_hz else None
                    profiles[r.owner_id] = Profile(
                        r.owner_id, _unpack_vector(r.centroid), float(r.threshold), pitch
                    )
                self._profiles = profiles
            return self._profiles

    def identify(self, utterance: Utterance) -> Identification:
        """Best matching owner, or a guest (owner_id None). Needs the whole ``Utterance``: its pitch is checked
        too, so a bare embedding cannot identify anyone."""
        return decide(utterance.partials, self.profiles(), pitch_hz=utterance.pitch_hz)

    def identify_pcm(self, pcm: np.ndarray | bytes) -> Identification:
        return self.identify(self.encoder.analyse(pcm))
