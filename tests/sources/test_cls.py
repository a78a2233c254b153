"""ClsSearch through the real tencentcloud-sdk-python against a local TC3-verifying CLS endpoint."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from agents.parsers import ParseStats
from agents.records import LogKind
from agents.sources import SourceError
from agents.sources.base import RetryPolicy
from agents.sources.cls import ClsCredentials, ClsSearch
from tests.fakes.tc3_server import FakeLog, FakeTc3Server

SID, SKEY = "AKIDcls00000000000000000000000000000", "cls-secret-DO-NOT-LOG-0987654321"
T0_MS = int(datetime(2024, 6, 1, 12, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def cls_api() -> Iterator[FakeTc3Server]:
    with FakeTc3Server(service="cls") as server:
        server.add_user(SID, SKEY)
        business = [
            FakeLog(
                T0_MS + i * 1000,
                {
                    "level": "ERROR" if i % 5 == 0 else "INFO",
                    "msg": f"order {i} failed: db timeout" if i % 5 == 0 else f"order {i} ok",
                    "__TAG__.pod_name": "order-api-7d9f8c6b5-x2x9k",
                    "__TAG__.namespace": "shop",
                },
            )
            for i in range(300)
        ]
        server.add_topic("topic-business", business)
        event = {
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "order-api-7d9f8c6b5-x2x9k"},
            "reason": "OOMKilling",
            "message": "Memory cgroup out of memory: Killed process 4242 (java)",
            "type": "Warning",
        }
        server.add_topic(
            "topic-event",
            [FakeLog(T0_MS + 5000, {"event": json.dumps(event)}), FakeLog(T0_MS + 6000, raw="not an event")],
        )
        yield server


def client(server: FakeTc3Server, key: str = SKEY) -> ClsSearch:
    creds = ClsCredentials(SID, key, "ap-guangzhou", endpoint=server.endpoint, scheme="http", timeout=5)
    return ClsSearch(creds, retry=RetryPolicy(sleep=lambda s: None))


def test_search_pages_with_context_and_parses_records(cls_api: FakeTc3Server) -> None:
    before = len(cls_api.requests)
    recs = client(cls_api).search(
        "topic-business", "level:ERROR", T0_MS, T0_MS + 3_600_000, limit=5000, page_size=25
    )
    assert [r.message for r in recs] == [f"order {i} failed: db timeout" for i in range(0, 300, 5)]
    assert all(r.level == "ERROR" and r.workload == "order-api" and r.namespace == "shop" for r in recs)
    assert recs[0].ts == T0_MS / 1000
    calls = cls_api.requests[before:]
    assert len(calls) == 3 and all(c["secret_id"] == SID for c in calls)
    assert "Context" not in calls[0]["params"] and calls[1]["params"]["Context"]


def test_limit_and_time_window_are_respected(cls_api: FakeTc3Server) -> None:
    recs = client(cls_api).search("topic-business", "*", T0_MS + 10_000, T0_MS + 20_000, limit=4, sort="desc")
    assert [r.message for r in recs] == ["order 19 ok", "order 18 ok", "order 17 ok", "order 16 ok"]


def test_events_via_search_and_unparseable_results_are_counted(cls_api: FakeTc3Server) -> None:
    stats = ParseStats()
    recs = client(cls_api).search("topic-event", "", T0_MS, T0_MS + 60_000, kind=LogKind.EVENT, stats=stats)
    assert [(r.fields["reason"], r.level, r.workload) for r in recs] == [("OOMKilling", "WARN", "order-api")]
    assert recs[0].ts == (T0_MS + 5000) / 1000  # the event has no time of its own: the CLS time
    assert stats.bad == 1 and stats.samples[0].sample == "not an event"


def test_wrong_key_is_a_clear_error_without_the_secret(cls_api: FakeTc3Server, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-cls-secret-DO-NOT-LOG"
    with pytest.raises(SourceError) as err:
        client(cls_api, key=wrong).search("topic-business", "*", T0_MS, T0_MS + 1000)
    assert err.value.code == "AuthFailure.SignatureFailure" and "topic-business" in str(err.value)
    for secret in (wrong, SKEY):
        assert secret not in str(err.value) and secret not in caplog.text


def test_unknown_topic_is_a_clear_error(cls_api: FakeTc3Server) -> None:
    with pytest.raises(SourceError) as err:
        client(cls_api).search("topic-nope", "*", T0_MS, T0_MS + 1000)
    assert err.value.code == "ResourceNotFound.TopicNotExist"
