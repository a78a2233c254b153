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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

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


def decide(partials: np.ndarray, profiles: Sequence[Profile] | Mapping[int, Profile]) -> Identification:
    """Open-set identification: best owner if above its threshold and clearly ahead of the runner-up."""
    items = list(profiles.values()) if isinstance(profiles, Mapping) else list(profiles)
    if not items:
        return Identification(owner_id=None, score=0.0, threshold=0.0, margin=0.0)
    scored = sorted(((score(partials, p.centroid), p) for p in items), key=lambda sp: sp[0], reverse=True)
    best_score, best = scored[0]
    margin = best_score - scored[1][0] if len(scored) > 1 else 1.0
    accepted = best_score >= best.threshold and margin >= MIN_MARGIN
    return Identification(
        owner_id=best.owner_id if accepted else None,
        score=round(best_score, 4),
        threshold=best.threshold,
        margin=round(margin, 4),
        candidate_id=best.owner_id,
    )
