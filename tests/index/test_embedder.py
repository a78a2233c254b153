from __future__ import annotations

import warnings
from pathlib import Path

import chromadb
import numpy as np
import pytest

from agents.index import E5Embedder


def test_passages_are_cached_across_instances(tmp_path: Path):
    texts = [f"Back-off restarting failed container worker-{i} in pod worker-{i}-<*>" for i in range(6)]
    first = E5Embedder(cache_dir=tmp_path)
    v1 = first.passage(texts)
    assert v1.shape == (6, 384)
    assert np.allclose(np.linalg.norm(v1, axis=1), 1.0, atol=1e-3)
    assert first.embedded == 6

    first.passage(texts)
    assert first.embedded == 6  # nothing new went through the model

    again = E5Embedder(cache_dir=tmp_path)  # next day, new process: same cache file
    v2 = again.passage([*texts, "Started container worker-0"])
    assert again.embedded == 1  # only the new template
    assert again.cache_hits == 6
    assert np.array_equal(v1, v2[:6])


def test_duplicates_and_whitespace_variants_embed_once(embedder: E5Embedder):
    before = embedder.embedded
    vecs = embedder.passage(["Evicted pod  shop-a-<*>", "Evicted pod shop-a-<*>", "Evicted pod shop-a-<*>\n"])
    assert embedder.embedded - before == 1
    assert np.array_equal(vecs[0], vecs[2])


def test_query_and_passage_roles_differ_and_rank_chinese_to_english(embedder: E5Embedder):
    docs = embedder.passage(
        [
            "Container order-api was OOMKilled (exit code 137), memory limit 512Mi （内存溢出 内存不足）",
            "Scaled up replica set order-api-<*> to <*> （扩缩容 副本数）",
        ]
    )
    q = embedder.query("哪个服务内存溢出了")
    assert q.shape == (384,)
    assert docs[0] @ q > docs[1] @ q
    assert not np.allclose(
        embedder.query("Scaled up replica set"), embedder.passage(["Scaled up replica set"])[0]
    )


def test_is_a_chroma_embedding_function_without_warnings(tmp_path: Path):
    ef = E5Embedder(cache_dir=tmp_path / "cache")
    assert E5Embedder.build_from_config(ef.get_config()).get_config() == ef.get_config()
    client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the "does not implement get_config()" warning would fail here
        coll = client.get_or_create_collection("ef_check", embedding_function=ef)
        coll.add(ids=["a", "b"], documents=["payment gateway timed out", "user logged in"])
        res = coll.query(query_texts=["支付超时"], n_results=1)
    assert res["ids"][0] == ["a"]


def test_empty_input(embedder: E5Embedder):
    assert embedder.passage([]).shape == (0, 384)


@pytest.mark.parametrize("bad", [123, None])
def test_non_string_text_is_stringified_not_crashing(embedder: E5Embedder, bad):
    assert embedder.passage([bad]).shape == (1, 384)
