from __future__ import annotations

from agents.index.lexical import bm25_scores, fuse, terms


def test_terms_are_chinese_bigrams_and_english_words_without_question_filler():
    got = terms("数据库连接池是不是满了 HikariPool timed out")
    assert "连接" in got and "接池" in got and "hikaripool" in got and "timed" in got
    assert "是不" not in got and "不是" not in got  # question words carry no topic
    assert "out" in got and "the" not in terms("the pool")


def test_bm25_prefers_the_document_that_shares_the_question_words():
    docs = [
        "Login failed for user （登录失败 用户）",
        "HikariPool-1 - Connection is not available （超时 数据库 连接池）",
        "Order created （订单 创建）",
    ]
    scores = bm25_scores("数据库连接池是不是满了", docs)
    assert scores.index(max(scores)) == 1
    assert scores[0] == scores[2] == 0.0


def test_bm25_of_an_empty_question_or_collection_is_zero():
    assert bm25_scores("是不是", ["连接池"]) == [0.0]
    assert bm25_scores("连接池", []) == []


def test_fusion_promotes_lexical_matches_and_ignores_order_of_ties():
    dense = [0.86, 0.85, 0.86]
    lexical = [0.0, 9.0, 0.0]
    fused = fuse(dense, lexical)
    assert fused.index(max(fused)) == 1  # a lexical hit lifts a near-tie in cosine
    assert fused[0] == fused[2]  # equal scores share a rank, whatever their position
    assert fuse(dense[::-1], lexical[::-1]) == fused[::-1]
