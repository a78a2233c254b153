"""Deterministic Chinese glosses for English log text.

The embedding model is multilingual, but a short English template ("Back-off pulling image …") and a
spoken Chinese question ("镜像拉取失败是怎么回事") still land far apart. Appending a few Chinese terms
chosen by a fixed glossary of log vocabulary (glossary.json: data, not code) bridges the gap without
any model or network, and the same template always gets the same gloss (so the embedding cache holds).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

_GLOSSARY = Path(__file__).with_name("glossary.json")


@lru_cache(maxsize=1)
def _rules() -> tuple[tuple[re.Pattern[str], str], ...]:
    terms = json.loads(_GLOSSARY.read_text(encoding="utf-8"))["terms"]
    return tuple((re.compile(pattern, re.I), zh) for pattern, zh in terms)


def gloss(text: str, limit: int = 8) -> str:
    """Chinese terms for the log vocabulary found in `text`, in glossary order, without duplicates."""
    words: list[str] = []
    for pattern, zh in _rules():
        if pattern.search(text):
            for w in zh.split():
                if w not in words:
                    words.append(w)
        if len(words) >= limit:
            break
    return " ".join(words[:limit])


def with_gloss(text: str) -> str:
    g = gloss(text)
    return f"{text} （{g}）" if g else text
