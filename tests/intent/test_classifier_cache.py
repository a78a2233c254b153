"""The trained intent classifier is kept on disk between starts, and a bad cache only costs a training."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from server.intent import classifier
from server.intent.classifier import KEEP_MODELS, IntentClassifier, model_digest, trained

EXAMPLES = [
    ("broadcast", "播报一下昨天的日志"),
    ("broadcast", "念一下日报"),
    ("stop", "停一下"),
    ("stop", "别说了"),
    ("greeting", "你好小智"),
    ("greeting", "小智在吗"),
]


def _no_training(*_: object, **__: object) -> None:
    raise AssertionError("trained again although a model of the same examples was kept")


def test_a_kept_model_is_loaded_not_trained_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = trained(EXAMPLES, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [f"intent-classifier-{model_digest(EXAMPLES)}.pickle"]
    monkeypatch.setattr(IntentClassifier, "__init__", _no_training)
    again = trained(EXAMPLES, tmp_path)
    assert again.rank("停一下")[0].label == first.rank("停一下")[0].label == "stop"


def test_other_examples_train_a_new_model_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    versions = [[*EXAMPLES, ("help", f"你会干什么{i}")] for i in range(KEEP_MODELS + 2)]
    assert len({model_digest(v) for v in versions}) == len(versions)
    for i, examples in enumerate(versions):
        model = trained(examples, tmp_path)
        os.utime(tmp_path / f"intent-classifier-{model_digest(examples)}.pickle", (i, i))  # in training order
    assert model.rank("你会干什么")[0].label == "help"
    kept = {p.name for p in tmp_path.iterdir()}
    assert kept == {f"intent-classifier-{model_digest(v)}.pickle" for v in versions[-KEEP_MODELS:]}


def test_a_damaged_model_file_is_trained_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / f"intent-classifier-{model_digest(EXAMPLES)}.pickle"
    path.write_bytes(b"\x80\x05 truncated")
    with caplog.at_level(logging.WARNING, logger=classifier.__name__):
        model = trained(EXAMPLES, tmp_path)
    assert model.rank("念一下日报")[0].label == "broadcast"
    assert "unreadable" in caplog.text
    assert trained(EXAMPLES, tmp_path).rank("你好小智")[0].label == "greeting"  # and now kept whole


def test_a_cache_that_is_a_file_still_gives_a_classifier(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger=classifier.__name__):
        model = trained(EXAMPLES, blocker)
    assert model.rank("停一下")[0].label == "stop"
    assert "not cached" in caplog.text
    assert blocker.read_text() == "not a directory"
