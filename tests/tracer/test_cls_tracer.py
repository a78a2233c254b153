"""The tracer fed by CLS SearchLog (real tencentcloud SDK) against a local endpoint that verifies TC3 signatures."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agents.evidence import EvidenceError
from agents.sources.base import RetryPolicy
from agents.sources.cls import ClsCredentials
from agents.sources.cls_tracer import ClsEvidenceProvider, ClsTopics, build_cql
from agents.tracer import AlertKeys, trace
from tests.fakes.tc3_server import FakeLog, FakeTc3Server
from tests.tracer.conftest import Day

SID, SKEY = "AKIDtracer0001", "tracer-secret-key-abcdef123456"
TOPICS = ClsTopics(business="topic-biz", event="topic-event", audit="topic-audit")


@pytest.fixture(scope="module")
def cls_server(day1: Day) -> Iterator[FakeTc3Server]:
    """Topics hold the generated day's lines (as the TKE collectors ship them) around the bad rollout."""
    inc = day1.incident("image_pull_failure")
    lo, hi = inc["start_ts"] - 30 * 3600, inc["start_ts"] + 3600
    topics: dict[str, list[FakeLog]] = {TOPICS.business: [], TOPICS.event: [], TOPICS.audit: []}
    by_kind = {"business": TOPICS.business, "event": TOPICS.event, "audit": TOPICS.audit}
    for rec in day1.records:
        if not lo <= rec.ts < hi:
            continue
        try:
            fields = json.loads(rec.raw)
        except ValueError:  # the generator's deliberately malformed lines: CLS would hold them as raw text
            topics[by_kind[rec.kind.value]].append(FakeLog(int(rec.ts * 1000), raw=rec.raw))
            continue
        topics[by_kind[rec.kind.value]].append(FakeLog(int(rec.ts * 1000), fields))
    server = FakeTc3Server("cls")
    server.add_user(SID, SKEY)
    for topic, logs in topics.items():
        server.add_topic(topic, logs)
    with server:
        yield server


def provider(server: FakeTc3Server, key: str = SKEY) -> ClsEvidenceProvider:
    creds = ClsCredentials(SID, key, "ap-guangzhou", endpoint=server.endpoint, scheme="http", timeout=10)
    return ClsEvidenceProvider.connect(creds, TOPICS, retry=RetryPolicy(attempts=1, sleep=lambda s: None))


def test_live_trace_from_cls(cls_server: FakeTc3Server, day1: Day) -> None:
    inc = day1.incident("image_pull_failure")
    keys = AlertKeys.build(
        inc["start_ts"] + 600, namespace=inc["namespace"], workload=inc["workload"], title="5xx"
    )
    p = provider(cls_server)
    t = trace(keys, p)
    assert t.cause == "bad_image" and t.changed_by == inc["user"] and t.confidence >= 0.7
    assert t.rollback is not None and t.rollback.image == inc["details"]["old_image"]
    # the same verdict as the nightly store gives
    nightly = trace(keys, day1.store)
    assert (t.cause, t.rollback, t.changed_by) == (nightly.cause, nightly.rollback, nightly.changed_by)
    assert not t.errors
    # queries were narrowed server-side by CQL terms, not fetched wholesale
    assert f'service:"{inc["workload"]}"' in " ".join(p.queries)
    sent = [r for r in cls_server.requests if r["action"] == "SearchLog" and r["params"]]
    assert sent and all(r["secret_id"] == SID for r in sent)
    assert all(r["params"]["QueryString"] != "*" for r in sent)


def test_wrong_key_is_a_clear_error_without_the_secret(cls_server: FakeTc3Server, day1: Day) -> None:
    inc = day1.incident("image_pull_failure")
    wrong = "WRONG-secret-key-zzzz999"
    keys = AlertKeys.build(inc["start_ts"] + 600, namespace=inc["namespace"], workload=inc["workload"])
    with pytest.raises(EvidenceError) as err:
        trace(keys, provider(cls_server, wrong))
    assert err.value.code == "AuthFailure.SignatureFailure"
    assert "SignatureFailure" in str(err.value)
    assert wrong not in str(err.value) and SKEY not in str(err.value)


def test_cql_building() -> None:
    from agents.evidence import EvidenceQuery

    qs = build_cql(
        EvidenceQuery("business", 0, 1, "shop", workloads=("order-api",), levels=("ERROR", "FATAL"))
    )
    assert qs == ['namespace:"shop" AND service:"order-api" AND level:"ERROR"',
                  'namespace:"shop" AND service:"order-api" AND level:"FATAL"']  # fmt: skip
    qs = build_cql(EvidenceQuery("event", 0, 1, None, objects=("Node/10.0.1.9",), reasons=("OOMKilling",)))
    assert qs == ['"10.0.1.9" AND "OOMKilling"']
    assert build_cql(EvidenceQuery("audit", 0, 1, None, text='say "hi"')) == ['"say \\"hi\\""']
    assert build_cql(EvidenceQuery("audit", 0, 1)) == ["*"]
