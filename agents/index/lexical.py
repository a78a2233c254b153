"""Lexical half of the hybrid retrieval: BM25 over Chinese character bigrams and English words.

Dense vectors alone put a spoken Chinese question and every template of a day within a few hundredths
of cosine similarity of each other (e5 compresses its scores into ~0.80–0.88), so the ranking hung on
margins that one package version or another could flip. The indexed text carries a Chinese gloss
(`gloss.py`), so the words a person says ("连接池", "镜像拉取失败") usually appear in it verbatim; a
lexical score over those words is exact, cheap and the same on every machine. `fuse` combines the two
rankings by reciprocal rank, which needs no calibration between the two score scales.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD = re.compile(r"[a-z][a-z0-9]+|[0-9]{3,}")
# Question words carry no topic: "是不是", "有没有", "怎么回事" … (bigrams made of these are dropped).
_FILLER_CHARS = frozenset("的了吗呢吧啊是不有没么什怎回事个一这那些多少请问")
_EN_STOP = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "by",
        "with",
        "at",
        "from",
        "as",
        "it",
        "this",
        "that",
        "not",
        "no",
    ]
)

BM25_K1 = 1.2
BM25_B = 0.75
RRF_K = 10  # small: the lists are short and the top of each matters most


def terms(text: str) -> list[str]:
    """Index terms: CJK character bigrams (single characters for one-character runs) and English words."""
    out: list[str] = []
    lowered = text.lower()
    for run in _CJK_RUN.findall(lowered):
        if len(run) == 1:
            if run not in _FILLER_CHARS:
                out.append(run)
            continue
        for i in range(len(run) - 1):
            pair = run[i : i + 2]
            if not (pair[0] in _FILLER_CHARS and pair[1] in _FILLER_CHARS):
                out.append(pair)
    out.extend(w for w in _WORD.findall(lowered) if w not in _EN_STOP)
    return out


def bm25_scores(query: str, documents: Sequence[str]) -> list[float]:
    """BM25 of `query` against each document (the collection is the documents given)."""
    q_terms = set(terms(query))
    if not q_terms or not documents:
        return [0.0] * len(documents)
    doc_terms = [Counter(terms(d)) for d in documents]
    n = len(documents)
    avg_len = sum(sum(c.values()) for c in doc_terms) / n or 1.0
    df = Counter(t for c in doc_terms for t in q_terms if t in c)
    idf = {t: math.log(1.0 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in q_terms}
    scores = []
    for c in doc_terms:
        length = sum(c.values())
        s = 0.0
        for t in q_terms:
            f = c.get(t, 0)
            if f:
                s += idf[t] * f * (BM25_K1 + 1) / (f + BM25_K1 * (1 - BM25_B + BM25_B * length / avg_len))
        scores.append(s)
    return scores


def fuse(dense: Sequence[float], lexical: Sequence[float], k: int = RRF_K) -> list[float]:
    """Reciprocal-rank fusion of two score lists over the same documents (higher is better).

    A document with no lexical match gets no lexical share, so lexical evidence can only promote.
    Ties within a list share a rank, so equal scores never depend on input order.
    """
    fused = [0.0] * len(dense)
    for scores, needs_positive in ((dense, False), (lexical, True)):
        ranked = sorted({s for s in scores if s > 0 or not needs_positive}, reverse=True)
        rank_of = {s: r for r, s in enumerate(ranked)}
        for i, s in enumerate(scores):
            if s in rank_of:
                fused[i] += 1.0 / (k + 1 + rank_of[s])
    return fused
