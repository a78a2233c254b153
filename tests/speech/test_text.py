from __future__ import annotations

import itertools

import pytest

from server.speech.text import speakable, speakable_sentences, split_sentences


def test_markdown_is_stripped():
    md = """## 昨日摘要 📊

- **业务日志**：共 12,000 条，错误率 3.5%
- `payment-svc` 超时 [详情](https://example.com/x?a=1)
1. 审计：~~无~~ 发现 *3 条* 高危操作 🚨

```bash
kubectl rollout undo deploy/payment
```
> 建议回滚 https://console.cloud.tencent.com/tke
"""
    s = speakable(md)
    for junk in ("#", "*", "`", "-  ", "http", "](", "~~", "📊", "🚨", "kubectl", ">"):
        assert junk not in s, (junk, s)
    assert "昨日摘要" in s and "业务日志：共 12,000 条，错误率 3.5%" in s
    assert "payment-svc 超时 详情" in s and "审计：无 发现 3 条 高危操作" in s and "建议回滚" in s


def test_numbers_stay_readable():
    s = speakable("1.5 倍的流量，版本 v2.4.2，错误 1,200 次")
    assert s == "1.5 倍的流量，版本 v2.4.2，错误 1,200 次"
    assert split_sentences("延迟上升了 3.5 倍。请检查 v2.4.2 版本！") == [
        "延迟上升了 3.5 倍。",
        "请检查 v2.4.2 版本！",
    ]


def test_split_on_chinese_and_english_punctuation():
    text = "今天系统运行正常。共处理一万两千条日志！有异常吗？Check the audit log. Then roll back; ok"
    assert split_sentences(text) == [
        "今天系统运行正常。",
        "共处理一万两千条日志！",
        "有异常吗？",
        "Check the audit log.",
        "Then roll back;",
        "ok",
    ]


def test_long_sentences_are_cut_at_commas_then_hard():
    text = "第一部分说明业务日志的情况，第二部分说明事件日志的情况，第三部分说明审计日志的情况。"
    parts = split_sentences(text, max_chars=20)
    assert all(len(p) <= 20 for p in parts)
    assert "".join(parts) == text
    assert parts[0] == "第一部分说明业务日志的情况，"
    no_commas = "一" * 50
    assert [len(p) for p in split_sentences(no_commas, max_chars=20)] == [20, 20, 10]
    digits = "错误码 40412 出现在第 12000 行之后，然后服务恢复"
    parts = split_sentences(digits, 14)
    assert "".join(parts).replace(" ", "") == digits.replace(" ", "")  # cut at spaces, nothing lost
    assert not any(a[-1:].isdigit() and b[:1].isdigit() for a, b in itertools.pairwise(parts))


def test_lines_without_punctuation_are_sentences_and_empty_pieces_vanish():
    assert speakable_sentences("# 标题\n- 第一项\n- 第二项\n\n。。。") == ["标题", "第一项", "第二项"]
    assert split_sentences("") == []
    with pytest.raises(ValueError):
        split_sentences("x", max_chars=1)
