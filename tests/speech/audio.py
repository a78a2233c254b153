"""Shared recordings for the speech tests."""

from __future__ import annotations

import numpy as np

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
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1] / max(1, len(ref))
