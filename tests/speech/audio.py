"""Shared recordings for the speech tests."""

from __future__ import annotations

import numpy as np

from server.speech.cer import edit_distance
from server.speech.wavio import read_wav
from tests.paths import COMMANDS

RATE = 16000


def command(name: str) -> np.ndarray:
    pcm, rate = read_wav(COMMANDS / name)
    assert rate == RATE
    return pcm


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(RATE * seconds), dtype=np.int16)


def transcripts() -> dict[str, str]:
    rows = (line.split("\t") for line in (COMMANDS / "transcripts.tsv").read_text("utf-8").splitlines())
    return {r[0]: r[1] for r in rows if len(r) == 2}


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate (Levenshtein distance / reference length), punctuation ignored."""
    keep = lambda s: [c for c in s if c.isalnum()]  # noqa: E731
    ref, hyp = keep(reference), keep(hypothesis)
    return edit_distance(ref, hyp) / max(1, len(ref))
