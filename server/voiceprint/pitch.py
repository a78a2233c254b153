"""Voice pitch: the second, classical check behind the embedding (pure numpy, no model, ~3-8 ms for 3 s).

Why a second check: resemblyzer scores two voices that share a timbre but sit ~4 semitones apart (the shared
espeak +m1 and +m3 speakers) as close as one voice saying two different sentences, so when one of them is not
enrolled its probes clear the other's threshold. The median fundamental frequency of an utterance separates them
and is a long-established speaker feature for real voices too. It is only a *veto*: a probe is accepted when the
embedding accepts it **and** its median pitch is within the owner's tolerance.

Tolerance, per owner, from the enrolment clips only: max(MIN_TOL_ST, SPREAD_K x std of the clips' medians).
MIN_TOL_ST = 3 semitones (±19 %) is a prior for how far one calm speaker's utterance median moves between
sentences and sessions (about 1-1.5 st standard deviation); a voice whose enrolment clips already vary more (the
neural command voice: 3.8 st range) gets a wider band. A genuine owner outside the band becomes a guest, the safe
direction for a check that gates rights; identical timbres at the same pitch are *not* separated (see tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
FMIN_HZ = 50.0
FMAX_HZ = 500.0
FRAME = 640  # 40 ms: two periods of the lowest pitch
HOP = 160  # 10 ms
VOICED_CORR = 0.6  # normalised autocorrelation peak above which a frame counts as voiced
ENERGY_RANGE_DB = 35.0  # frames quieter than the loudest by more than this are skipped
MIN_VOICED_FRAMES = 20  # 0.2 s of voicing, or the median is not trusted
MIN_TOL_ST = 3.0
SPREAD_K = 2.0

_WINDOW = np.hanning(FRAME)
# autocorrelation of the window itself: dividing by it undoes the taper's decay with lag (Boersma 1993)
_WINDOW_AC = np.correlate(_WINDOW, _WINDOW, "full")[FRAME - 1 :]
_WINDOW_AC = np.maximum(_WINDOW_AC / _WINDOW_AC[0], 0.2)
_NFFT = 2 * FRAME  # no circular wrap for lags < FRAME


def f0_track(wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """F0 in Hz of every voiced 10 ms frame of a float waveform (empty when nothing is voiced)."""
    x = np.asarray(wav, dtype=np.float64)
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"pitch expects {SAMPLE_RATE} Hz audio, got {sample_rate}")
    if x.size < FRAME:
        return np.empty(0)
    n = 1 + (x.size - FRAME) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::HOP][:n]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.einsum("ij,ij->i", frames, frames)
    if energy.max() <= 0:
        return np.empty(0)
    frames = frames[energy > energy.max() * 10 ** (-ENERGY_RANGE_DB / 10)]
    spec = np.fft.rfft(frames * _WINDOW, _NFFT)
    ac = np.fft.irfft(spec.real**2 + spec.imag**2, _NFFT)[:, :FRAME]
    ac = ac / np.maximum(ac[:, :1], 1e-12) / _WINDOW_AC
    lo, hi = int(SAMPLE_RATE / FMAX_HZ), int(SAMPLE_RATE / FMIN_HZ)
    seg = ac[:, lo : hi + 1]
    rows = np.arange(len(ac))
    # a periodic frame correlates almost equally at 1, 2, 3... periods (the taper correction even lifts the far
    # ones), so take the *first* lag that comes within 10 % of the best, then climb to its local maximum
    near_best = seg >= 0.9 * seg.max(axis=1, keepdims=True)
    lag = np.argmax(near_best, axis=1) + lo
    for _ in range(FRAME // 40):  # a rising flank is at most a fraction of the shortest period long
        up = (lag < hi) & (ac[rows, np.minimum(lag + 1, hi)] > ac[rows, lag])
        if not up.any():
            break
        lag = lag + up
    peak = ac[rows, lag]
    voiced = peak > VOICED_CORR
    return SAMPLE_RATE / lag[voiced]


def median_pitch(wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float | None:
    """Median F0 (Hz) over the voiced frames, or None when there is too little voicing to trust it."""
    f0 = f0_track(wav, sample_rate)
    return float(np.median(f0)) if f0.size >= MIN_VOICED_FRAMES else None


def semitones(hz: float, ref_hz: float) -> float:
    return float(12.0 * np.log2(hz / ref_hz))


@dataclass(frozen=True)
class PitchRef:
    """An owner's pitch: the geometric mean of the enrolment clips' medians and the accepted band around it."""

    hz: float
    tol_st: float

    def deviation(self, hz: float) -> float:
        """Semitones from the owner's reference (positive = higher)."""
        return semitones(hz, self.hz)

    def accepts(self, hz: float | None) -> bool:
        return hz is not None and abs(self.deviation(hz)) <= self.tol_st


def reference(clip_medians_hz: Sequence[float]) -> PitchRef:
    """Fit an owner's pitch band from their enrolment clips (at least two)."""
    if len(clip_medians_hz) < 2:
        raise ValueError("a pitch reference needs at least two clips")
    st = 12.0 * np.log2(np.asarray(clip_medians_hz, dtype=np.float64))
    ref = float(2 ** (st.mean() / 12.0))
    tol = max(MIN_TOL_ST, SPREAD_K * float(st.std(ddof=1)))
    return PitchRef(hz=round(ref, 2), tol_st=round(tol, 2))
