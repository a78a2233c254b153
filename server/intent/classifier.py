"""A small intent classifier over the paraphrase catalogue (data/catalogue.tsv), no LLM, no network.

Features are character n-grams of the utterance *and* n-grams of its fuzzy toneless pinyin, so an ASR
homophone ("神技日志" for "审计日志", "告井" for "告警") lands on the same features as the word it stands
for. Days, numbers and workload names are replaced by placeholders first, so "前天的业务日志" and "11月20号的业务
日志" look alike. Logistic regression gives calibrated scores, which the caller uses to ask back when the
two best intents are close. Training takes ~0.1 s and happens once per process.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass
from importlib import resources

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from server.intent.matcher import fuzzy_key

CATALOGUE = "catalogue.tsv"
_DAY = re.compile(
    r"(大前天|前天|昨天|昨日|昨晚|今天|今日|明天|(?:上上|上个?|这个?|本)?(?:周|星期|礼拜)[一二三四五六日天])"
)
_NUMBER = re.compile(r"[0-9零〇一二两三四五六七八九十百千]+(?=[月日号点分个小钟天%])")


@dataclass(frozen=True)
class Scored:
    label: str
    score: float


def masked(text: str) -> str:
    """Days → 日, numbers before a unit → 数 (normalised text in, same length roughly)."""
    return _NUMBER.sub("数", _DAY.sub("日", text))


def _pinyin_tokens(text: str) -> list[str]:
    syl = list(fuzzy_key(text))
    return (
        syl
        + [a + "_" + b for a, b in itertools.pairwise(syl)]
        + [a + "_" + b + "_" + c for a, b, c in zip(syl, syl[1:], syl[2:], strict=False)]
    )


def load_catalogue() -> list[tuple[str, str]]:
    raw = resources.files("server.intent").joinpath("data", CATALOGUE).read_text(encoding="utf-8")
    rows = []
    for line in raw.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, text = line.split("\t", 1)
        rows.append((label.strip(), text.strip()))
    return rows


class IntentClassifier:
    def __init__(self, examples: list[tuple[str, str]], c: float = 20.0) -> None:
        from server.intent.matcher import normalize

        texts = [masked(normalize(t)) for _, t in examples]
        labels = [label for label, _ in examples]
        features = FeatureUnion(
            [
                ("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)),
                (
                    "pinyin",
                    TfidfVectorizer(
                        analyzer=_pinyin_tokens, sublinear_tf=True, lowercase=False, token_pattern=None
                    ),
                ),
            ]
        )
        self.model = Pipeline([("features", features), ("lr", LogisticRegression(C=c, max_iter=2000))])
        self.model.fit(texts, labels)
        self.labels: list[str] = list(self.model.classes_)

    def rank(self, text: str) -> list[Scored]:
        """All labels, best first; ``text`` is normalised, wake word and fillers removed."""
        probs = np.asarray(self.model.predict_proba([masked(text)])[0])
        order = np.argsort(-probs)
        return [Scored(self.labels[i], float(probs[i])) for i in order]


_shared: IntentClassifier | None = None
_lock = threading.Lock()


def shared_classifier() -> IntentClassifier:
    global _shared
    with _lock:
        if _shared is None:
            _shared = IntentClassifier(load_catalogue())
        return _shared
