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


def test_recognizer_transcripts_come_from_tuning_rows_only() -> None:
    """heard_asr.tsv: what Whisper made of tuning rows said by the synthetic voices, labelled as the row;
    a reported split's or a blind set's row never trains the classifier, not even as a transcript."""
    corpus = _corpus_module()
    label_of: dict[str, set[str]] = {}
    for r in corpus.training_rows():
        if not r["context"].strip():
            label_of.setdefault(r["text"], set()).add(corpus._label(r))
    lines = [
        line.split("\t")
        for line in corpus.HEARD_ASR_OUT.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert len(lines) > 5000
    reported = {
        r["text"] for r in corpus._rows(corpus.BANK / "phrasebank.tsv") if r["split"] in {"test", "fresh"}
    }
    newest = sorted(corpus.BANK.glob("heldout_r*.tsv"), key=lambda p: int(p.stem[9:].rstrip("ab")))[-1]
    assert newest.stem not in corpus.TRAINING_FILES  # the newest blind set is not training material yet
    blind = {r["text"] for r in corpus._rows(newest)}
    for label, heard, said in lines:
        assert label in label_of[said], (label, said)
        assert said not in (reported - set(label_of)) and said not in (blind - set(label_of))
        assert corpus.heard_cer(said, heard) <= corpus.MAX_HEARD_CER
        assert corpus._spoken_form(heard) != corpus._spoken_form(said)


def test_recognizer_transcripts_keep_only_what_is_fit_to_learn_from() -> None:
    corpus = _corpus_module()
    said = "播报一下昨天的日志"
    transcripts = {
        f"neural-1.0\tcfg\t{said}": "博报一下昨天的意志",  # a mishearing: kept, labelled as said
        f"neural-slow-low\tcfg\t{said}": "播报一下，昨天的日志。",  # heard right: the row already teaches it
        f"neural-telephone\tcfg\t{said}": "谢谢大家收看本期视频欢迎订阅点赞转发谢谢谢谢",  # lost: too far
        f"mixed-awb\tcfg\t{said}": "博报一下昨天的意志",  # code-switching speakers are reported apart
        "neural-1.0\tcfg\t一句没有人写过的话": "一句没有人写过的话呀",  # not a tuning row
    }
    rows = [line.split("\t") for line in corpus.heard_corpus(transcripts).splitlines()[1:]]
    assert rows == [["broadcast", "博报一下昨天的意志", said]]


def test_the_transcripts_kept_read_back_as_the_file_and_new_clips_add_to_them() -> None:
    """``--keep``: a cache of this round's clips adds to the transcripts earlier caches gave (the file is
    consistent with today's tuning rows and limits: read back through them, it is unchanged)."""
    corpus = _corpus_module()
    kept = corpus.kept_transcripts()
    current = corpus.HEARD_ASR_OUT.read_text(encoding="utf-8")
    assert corpus.heard_corpus(kept) == current
    said = "播报一下昨天的日志"
    assert said in {r["text"] for r in corpus.training_rows()}
    grown = corpus.heard_corpus({**kept, f"neural-1.0\tcfg\t{said}": "博报一下昨天的意志啊"})
    assert grown.startswith(current) and grown.count("\n") == current.count("\n") + 1
