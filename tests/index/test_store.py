from __future__ import annotations

from pathlib import Path

import pytest

from agents.index import E5Embedder, LogIndex, select_templates
from agents.records import LogKind
from tests.index.conftest import FINDINGS, TEMPLATES, tpl

DAY = "2024-05-01"


@pytest.fixture
def day_index(index: LogIndex) -> LogIndex:
    index.index_day("owner-a", DAY, TEMPLATES, FINDINGS)
    return index


def test_index_day_is_idempotent_and_replaces_the_day(index: LogIndex):
    first = index.index_day("owner-a", DAY, TEMPLATES, FINDINGS)
    n = index.count("owner-a")
    index.index_day("owner-a", DAY, TEMPLATES, FINDINGS)
    assert index.count("owner-a") == n == {"templates": first.templates_indexed, "findings": 2}

    index.index_day("owner-a", "2024-05-02", TEMPLATES[:3], [])
    index.index_day("owner-a", DAY, TEMPLATES[:5], FINDINGS[:1])  # a re-run with less: old rows are gone
    assert index.count("owner-a") == {"templates": 5 + 3, "findings": 1}
    texts = {h["text"] for h in index.search("支付超时", k=10, owner="owner-a", day=DAY)}
    assert TEMPLATES[9]["template"] not in texts


def test_next_day_with_known_templates_embeds_nothing(index: LogIndex):
    index.index_day("owner-a", DAY, TEMPLATES, FINDINGS)
    stats = index.index_day("owner-a", "2024-05-02", TEMPLATES, FINDINGS)
    assert stats.embedded == 0
    assert stats.templates_indexed == len(TEMPLATES)


def test_index_survives_reopen(tmp_path: Path, embedder: E5Embedder):
    LogIndex(tmp_path / "chroma", embedder).index_day("owner-a", DAY, TEMPLATES, FINDINGS)
    reopened = LogIndex(tmp_path / "chroma", embedder)
    assert reopened.search("哪个服务内存溢出了", k=1, owner="owner-a")[0]["workload"] == "inventory-svc"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("镜像拉取失败是怎么回事", "Failed to pull image"),
        ("哪个服务内存溢出了", "OOMKilled"),
        ("支付超时的错误有多少", "Payment request to gateway"),
        ("数据库连接池是不是满了", "HikariPool-1"),
        ("有没有容器一直在重启", "Back-off restarting failed container"),
    ],
)
def test_chinese_question_finds_english_template(day_index: LogIndex, question: str, expected: str):
    hits = day_index.search(question, k=3, owner="owner-a", source="template")
    assert any(expected in h["text"] for h in hits), [h["text"] for h in hits]


def test_failed_image_pull_outranks_routine_pulls(day_index: LogIndex):
    hits = day_index.search("镜像拉取失败是怎么回事", k=5, owner="owner-a", kind="event")
    assert hits[0]["level"] == "WARN" and "pull" in hits[0]["text"].lower()


def test_permission_change_question_finds_audit_evidence(day_index: LogIndex):
    hits = day_index.search("谁修改了权限", k=3, owner="owner-a", kind="audit")
    assert any("clusterrolebinding" in h["text"].lower() for h in hits)
    assert all(h["kind"] == "audit" for h in hits)


def test_findings_are_searchable_with_their_ids(day_index: LogIndex):
    hits = day_index.search("支付网关超时", k=1, owner="owner-a", source="finding")
    assert hits[0]["finding_id"] == FINDINGS[1].id
    assert hits[0]["category"] == "spike" and hits[0]["count"] == 87


def test_owner_isolation(index: LogIndex):
    index.index_day("owner-a", DAY, TEMPLATES[:10], FINDINGS)
    b_only = [tpl("Container billing-svc was OOMKilled (exit code 137)", "event", "WARN", 3, "billing-svc")]
    index.index_day("owner-b", DAY, b_only, [])
    a_hits = index.search("哪个服务内存溢出了", k=10, owner="owner-a")
    assert a_hits and all(h["owner"] == "owner-a" for h in a_hits)
    assert "billing-svc" not in {h["workload"] for h in a_hits}
    b_hits = index.search("哪个服务内存溢出了", k=10, owner="owner-b")
    assert [h["workload"] for h in b_hits] == ["billing-svc"]


def test_same_template_on_several_days_is_returned_once_latest_day(index: LogIndex):
    index.index_day("owner-a", "2024-05-01", TEMPLATES[4:5], [])
    index.index_day("owner-a", "2024-05-02", TEMPLATES[4:5], [])
    hits = index.search("内存溢出", k=5, owner="owner-a")
    assert [(h["day"], h["workload"]) for h in hits] == [("2024-05-02", "inventory-svc")]


def test_failed_embedding_keeps_the_previous_index(index: LogIndex, monkeypatch: pytest.MonkeyPatch):
    index.index_day("owner-a", DAY, TEMPLATES, FINDINGS)
    before = index.count("owner-a")

    def broken(texts):
        raise RuntimeError("model crashed")

    monkeypatch.setattr(index.embedder, "passage", broken)
    with pytest.raises(RuntimeError):
        index.index_day("owner-a", DAY, [*TEMPLATES, tpl("brand new template", "business", "ERROR")], [])
    assert index.count("owner-a") == before


def test_bad_arguments(index: LogIndex):
    with pytest.raises(ValueError):
        index.index_day("", DAY, TEMPLATES, [])
    assert index.search("   ", owner="owner-a") == []
    assert index.search("anything", owner="nobody") == []


def test_selection_keeps_notable_and_mutating_audit_and_top_others():
    templates = [
        tpl("db error <*>", "business", "ERROR", 1),
        tpl("slow thing", "business", "WARN", 2),
        tpl("alice@corp patch roles/<*> status=200", "audit", "INFO", 1),
        tpl("bob@corp get pods status=200", "audit", "INFO", 5),
        tpl("GET /a 200", "business", "INFO", 900),
        tpl("GET /b 200", "business", "INFO", 800),
        tpl("GET /c 200", "business", "INFO", 3),
        tpl("GET /a 200", "business", "INFO", 900),  # duplicate text
        {"template": "", "level": "ERROR"},  # empty: skipped
    ]
    chosen = [t["template"] for t in select_templates(templates, max_other=2)]
    assert chosen == [
        "db error <*>",
        "slow thing",
        "alice@corp patch roles/<*> status=200",
        "GET /a 200",
        "GET /b 200",
    ]


def test_finding_kind_metadata(day_index: LogIndex):
    hits = day_index.search("集群管理员权限", k=1, owner="owner-a", source="finding")
    assert hits[0]["kind"] == str(LogKind.AUDIT)
    assert hits[0]["finding_id"] == FINDINGS[0].id
