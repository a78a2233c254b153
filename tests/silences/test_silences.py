"""Silences: matchers, windows, expiry, and the spoken forms (dev phrasings only; the helpers' phrase bank tests
intent routing)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from server.silences.models import Matcher, MatchOp, SilenceIn, parse_matcher
from server.silences.spoken import SilenceSpeechError, parse_spoken_silence
from server.silences.store import SilenceStore
from server.storage.db import Database

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 15, 20, tzinfo=TZ)
ORDER = {"alertname": "HighErrorRate", "namespace": "shop", "workload": "order-api", "severity": "critical"}
PAY = {**ORDER, "workload": "payment-svc"}


@pytest.fixture
def store(tmp_path: Path) -> SilenceStore:
    db = Database.sqlite(tmp_path / "s.sqlite3")
    db.create_all()
    return SilenceStore(db)


def test_matchers_follow_alertmanager_semantics():
    assert parse_matcher("workload=order-api").matches(ORDER)
    assert not parse_matcher("workload=order-api").matches(PAY)
    assert parse_matcher('namespace=~"sh.*"').matches(ORDER)
    assert not parse_matcher("namespace=~sh").matches(ORDER)  # regexes are anchored
    assert parse_matcher("severity!=info").matches(ORDER)
    assert parse_matcher("workload!~pay.*").matches(ORDER) and not parse_matcher("workload!~pay.*").matches(
        PAY
    )


@pytest.mark.parametrize("bad", ["workload", "work load=x", "1abc=x", "workload=~(unclosed"])
def test_an_invalid_matcher_is_refused_with_a_reason(bad):
    with pytest.raises(ValueError, match=r"matcher|regex"):
        parse_matcher(bad)


def test_a_silence_suppresses_only_matching_alerts_of_its_owner_while_active(store):
    s = store.add(
        SilenceIn(
            owner="alice",
            matchers=[Matcher(name="workload", value="order-api")],
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=2),
        ),
        created_by="owner:alice",
    )
    assert store.silencing("alice", ORDER, NOW + timedelta(minutes=5)) == s
    assert store.silencing("alice", PAY, NOW + timedelta(minutes=5)) is None
    assert store.silencing("bob", ORDER, NOW + timedelta(minutes=5)) is None
    assert store.silencing("alice", ORDER, NOW + timedelta(hours=3)) is None  # expired by itself
    assert store.silencing("alice", ORDER, NOW - timedelta(minutes=1)) is None  # not yet started


def test_expiring_a_silence_ends_it_now_and_only_for_its_owner(store):
    s = store.add(SilenceIn(owner="alice", starts_at=NOW, ends_at=NOW + timedelta(hours=1)), created_by="x")
    assert not store.expire(s.id, owner="bob")
    assert store.expire(s.id, owner="alice")
    assert store.silencing("alice", ORDER, NOW + timedelta(minutes=1)) is None
    assert store.list("alice", now=NOW) == []


def test_windows_are_validated():
    with pytest.raises(ValueError, match="end after"):
        SilenceIn(owner="a", starts_at=NOW, ends_at=NOW)
    with pytest.raises(ValueError, match="at most"):
        SilenceIn(owner="a", starts_at=NOW, ends_at=NOW + timedelta(days=30))


@pytest.mark.parametrize(
    ("said", "minutes"),
    [("静默两小时", 120), ("静默半小时", 30), ("接下来一个半小时别报警", 90), ("静默45分钟", 45)],
)
def test_spoken_durations(said, minutes):
    s = parse_spoken_silence(said, owner="alice", now=NOW)
    assert s.starts_at == NOW and s.ends_at - s.starts_at == timedelta(minutes=minutes)
    assert s.matchers == []  # everything of this owner


def test_spoken_maintenance_window_tonight_for_one_workload():
    s = parse_spoken_silence(
        "今晚十点到十二点维护，期间别报 order-api", owner="alice", now=NOW, known_workloads=["order-api"]
    )
    assert s.starts_at == datetime(2026, 11, 27, 22, 0, tzinfo=TZ)
    assert s.ends_at == datetime(2026, 11, 28, 0, 0, tzinfo=TZ)
    assert s.matchers == [Matcher(name="workload", value="order-api")]


def test_spoken_window_crossing_midnight_and_a_namespace():
    s = parse_spoken_silence("晚上十一点到凌晨一点半 payment 命名空间不要报", owner="a", now=NOW)
    assert s.starts_at == datetime(2026, 11, 27, 23, 0, tzinfo=TZ)
    assert s.ends_at == datetime(2026, 11, 28, 1, 30, tzinfo=TZ)
    assert s.matchers == [Matcher(name="namespace", value="payment")]


@pytest.mark.parametrize(
    "said", ["静默", "静默零分钟", "今晚二十五点到二十六点维护", "静默三十天", "下午三点七十分到四点静默"]
)
def test_impossible_spoken_silences_get_a_sentence_to_say(said):
    with pytest.raises(SilenceSpeechError) as err:
        parse_spoken_silence(said, owner="a", now=NOW)
    assert str(err.value).endswith(("。", "？"))


def test_two_workloads_become_one_regex_matcher():
    s = parse_spoken_silence("静默一小时 order-api 和 cart-svc", owner="a", now=NOW)
    (m,) = s.matchers
    assert m.op is MatchOp.RE and m.matches({"workload": "cart-svc"}) and not m.matches({"workload": "cart"})
