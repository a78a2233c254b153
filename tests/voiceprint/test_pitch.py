import numpy as np
import pytest

from server.voiceprint.pitch import MIN_TOL_ST, f0_track, median_pitch, reference, semitones

SR = 16000


def harmonic(f0: float, seconds: float = 1.5, weak_fundamental: bool = False) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    parts = [
        (0.2 if k == 1 and weak_fundamental else 1.0) / k * np.sin(2 * np.pi * k * f0 * t)
        for k in range(1, 9)
    ]
    return np.sum(parts, axis=0) * 0.3


@pytest.mark.parametrize("f0", [58.0, 85.0, 130.0, 220.0, 330.0, 440.0])
def test_median_pitch_finds_the_fundamental_not_a_multiple(f0) -> None:
    # a periodic signal correlates with itself at 2, 3... periods too; the tracker must report the first
    got = median_pitch(harmonic(f0, weak_fundamental=True))
    assert got is not None and abs(semitones(got, f0)) < 0.3


def test_noise_and_silence_have_no_pitch() -> None:
    rng = np.random.default_rng(1)
    assert median_pitch(rng.standard_normal(SR) * 0.1) is None
    assert median_pitch(np.zeros(SR)) is None
    assert median_pitch(np.zeros(100)) is None
    assert f0_track(harmonic(100.0, seconds=0.1)).size < 20  # 0.1 s: too little voicing to trust


def test_pitch_band_is_a_floor_or_wider_for_a_voice_that_varies() -> None:
    steady = reference([100.0, 102.0, 98.0])
    assert steady.tol_st == MIN_TOL_ST and abs(steady.hz - 100.0) < 1.0
    assert steady.accepts(115.0) and not steady.accepts(125.0) and not steady.accepts(80.0)
    assert not steady.accepts(None)
    varied = reference([240.0, 250.0, 300.0])  # the neural command voice's enrolment clips
    assert varied.tol_st > MIN_TOL_ST
    assert varied.accepts(varied.hz * 2 ** (varied.tol_st / 12 - 0.01))
    with pytest.raises(ValueError, match="two clips"):
        reference([100.0])
