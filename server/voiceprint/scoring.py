"""Pure scoring, calibration and decision for voiceprints (no I/O, no model).

score: median over the probe's 1.6 s windows of cos(window, owner centroid). A median of window scores is less
swayed by one odd window (a cough, the wake word's pre-roll, a clipped tail) than the cosine of the averaged
embedding, and it keeps short and long utterances on the same scale.

threshold, per owner, at enrolment:
  genuine estimate  = lowest leave-one-out score of an enrolment clip against the centroid of the others;
  threshold         = clamp(genuine estimate - GENUINE_MARGIN, FLOOR, CEILING);
  then raised to (closest other owner's mean enrolment-clip score + IMPOSTOR_MARGIN), capped at CEILING, so two
  similar owners do not swallow each other's voices. Recomputed for every owner whenever anyone enrols.
  (The mean, not the max, over the other owner's clips: one clip of a similar voice can score as high as this
  owner's own probes, and a threshold above those would lock the owner out.)

decision: the best-scoring owner is accepted only if its score clears its threshold, it beats the runner-up by
MIN_MARGIN, **and** the probe's median pitch is inside that owner's pitch band (``pitch.py``). The embedding alone
accepts an unenrolled voice of the same timbre a few semitones away (espeak +m1 as +m3, 0.82 vs 0.80).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from server.voiceprint.pitch import PitchRef

FLOOR = 0.80
CEILING = 0.92
GENUINE_MARGIN = 0.03
IMPOSTOR_MARGIN = 0.02
MIN_MARGIN = 0.03  # best owner must beat the runner-up by this much, or the speaker is a guest
MIN_CLIPS = 3


@dataclass(frozen=True)
class Identification:
    """Who spoke. ``owner_id`` is None for a guest (no owner matched well enough)."""

    owner_id: int | None
    score: float  # best owner's score (0 when nobody is enrolled)
    threshold: float  # that owner's threshold
    margin: float  # best score minus the runner-up's (1.0 with a single owner)
    candidate_id: int | None = None  # best-scoring owner even when rejected (for logs/eval, never for rights)
    pitch_st: float | None = (
        None  # probe pitch minus the candidate's reference, in semitones (None: unmeasured)
    )
    reason: str | None = None  # why a candidate was turned into a guest (logs/eval)

    @property
    def is_guest(self) -> bool:
        return self.owner_id is None


def unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def centroid(vectors: Sequence[np.ndarray]) -> np.ndarray:
    return unit(np.mean(np.stack([unit(v) for v in vectors]), axis=0))


def score(partials: np.ndarray, owner_centroid: np.ndarray) -> float:
    """Median window cosine; ``partials`` is (n, 256) or a single (256,) embedding."""
    p = np.atleast_2d(partials)
    return float(np.median(p @ owner_centroid))


@dataclass(frozen=True)
class Calibration:
    threshold: float
    genuine: float  # leave-one-out genuine estimate
    impostor: float  # closest other owner's enrolment score (0 if none)


def calibrate(
    clips: Sequence[np.ndarray], impostors: Sequence[Sequence[np.ndarray]], *, floor: float = FLOOR
) -> Calibration:
    """Threshold for one owner. ``clips``: that owner's enrolment partials (one (n,256) array per clip);
    ``impostors``: for each other owner, their enrolment clips' partials."""
    if len(clips) < 2:
        raise ValueError("calibration needs at least two enrolment clips")
    vectors = [unit(c.mean(axis=0)) for c in clips]
    loo = [score(clips[i], centroid([v for j, v in enumerate(vectors) if j != i])) for i in range(len(clips))]
    genuine = min(loo)
    threshold = min(max(genuine - GENUINE_MARGIN, floor), CEILING)
    own = centroid(vectors)
    impostor = max(
        (float(np.mean([score(c, own) for c in other])) for other in impostors if other), default=0.0
    )
    if impostor + IMPOSTOR_MARGIN > threshold:
        threshold = min(impostor + IMPOSTOR_MARGIN, CEILING)
    return Calibration(threshold=round(threshold, 4), genuine=genuine, impostor=impostor)


@dataclass(frozen=True)
class Profile:
    owner_id: int
    centroid: np.ndarray
    threshold: float
    pitch: PitchRef | None = None  # None: a voiceprint from before the pitch check, never accepted


def _rejection(
    best_score: float, best: Profile, margin: float, pitch_hz: float | None, pitch_st: float | None
) -> str | None:
    if best_score < best.threshold:
        return "score below threshold"
    if margin < MIN_MARGIN:
        return "too close to another owner"
    if best.pitch is None:
        return "voiceprint has no pitch reference: re-enrol"
    if pitch_hz is None:
        return "pitch not measurable"
    if not best.pitch.accepts(pitch_hz):
        return f"pitch {pitch_st:+.1f} st outside ±{best.pitch.tol_st:.1f}"
    return None


def decide(
    partials: np.ndarray,
    profiles: Sequence[Profile] | Mapping[int, Profile],
    *,
    pitch_hz: float | None,
) -> Identification:
    """Open-set identification: the best owner if above its threshold, clearly ahead of the runner-up and
    within its pitch band; otherwise a guest. ``pitch_hz``: the probe's median pitch (``pitch.median_pitch``)."""
    items = list(profiles.values()) if isinstance(profiles, Mapping) else list(profiles)
    if not items:
        return Identification(owner_id=None, score=0.0, threshold=0.0, margin=0.0)
    scored = sorted(((score(partials, p.centroid), p) for p in items), key=lambda sp: sp[0], reverse=True)
    best_score, best = scored[0]
    margin = best_score - scored[1][0] if len(scored) > 1 else 1.0
    pitch_st = best.pitch.deviation(pitch_hz) if best.pitch is not None and pitch_hz is not None else None
    reason = _rejection(best_score, best, margin, pitch_hz, pitch_st)
    return Identification(
        owner_id=best.owner_id if reason is None else None,
        score=round(best_score, 4),
        threshold=best.threshold,
        margin=round(margin, 4),
        candidate_id=best.owner_id,
        pitch_st=None if pitch_st is None else round(pitch_st, 2),
        reason=reason,
    )
