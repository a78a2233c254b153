"""The classifier's second training file is generated from the phrase bank's tuning sets, never by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from server.intent.classifier import load_catalogue, load_training

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "intent_corpus.py"


def _corpus_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("intent_corpus", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_heard_tsv_is_what_the_script_writes() -> None:
    corpus = _corpus_module()
    assert corpus.OUT.read_text(encoding="utf-8") == corpus.corpus(), "run scripts/intent_corpus.py"


def test_reported_splits_never_train_the_classifier() -> None:
    corpus = _corpus_module()
    assert not {"test", "fresh"} & set(corpus.TRAINING_SPLITS)
    assert all((corpus.BANK / f"{name}.tsv").exists() for name in corpus.TRAINING_FILES)
    only_reported = {"小智，把昨天的日志给我念一下"}  # a test-split row no training set wrote
    bank = corpus._rows(corpus.BANK / "phrasebank.tsv")
    assert only_reported <= {r["text"] for r in bank if r["split"] == "test"}
    assert not only_reported & {text for _, text in load_catalogue("heard.tsv")}


def test_answers_under_a_question_and_workload_names_stay_out() -> None:
    trained = load_catalogue("heard.tsv")
    assert ("rollback_confirm", "好") not in trained  # "好" approves only after "是否回滚？"
    assert not [t for _, t in trained if "payment" in t.lower() or "order-service" in t.lower()]
    assert len(load_training()) > len(load_catalogue()) + 1000
