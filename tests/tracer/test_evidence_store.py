"""The per-day evidence store: what it keeps, how it is queried, atomic and idempotent builds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agents.evidence import EvidenceQuery, EvidenceStore, EvidenceWriter, StoreSet, build_store, store_path
from agents.records import LogKind
from tests.tracer.conftest import DAY, OWNER, Day


def test_keeps_only_notable_records(day1: Day) -> None:
    s = day1.store
    total = {k: sum(1 for r in day1.records if r.kind is k) for k in LogKind}
    kept = {k.value: s.count(k.value) for k in LogKind}
    assert 0 < kept["business"] < total[LogKind.BUSINESS] * 0.1
    assert 0 < kept["audit"] < total[LogKind.AUDIT] * 0.2
    rows = s._db.execute("SELECT DISTINCT level FROM evidence WHERE kind = 'business'").fetchall()
    assert {r[0] for r in rows} <= {"WARN", "ERROR", "FATAL"}
    # every Warning event is kept; lease heartbeats (mutating but routine) are not
    warnings = sum(1 for r in day1.records if r.kind is LogKind.EVENT and r.level == "WARN")
    assert (
        s._db.execute("SELECT count(*) FROM evidence WHERE kind='event' AND level='WARN'").fetchone()[0]
        == warnings
    )
    assert s._db.execute("SELECT count(*) FROM evidence WHERE resource = 'leases'").fetchone()[0] == 0
    # the bad rollout's patch is kept with the image read from its request object
    inc = day1.incident("image_pull_failure")
    got = s.query(EvidenceQuery("audit", inc["start_ts"] - 1, inc["start_ts"] + 1, inc["namespace"],
                                workloads=(inc["workload"],)))  # fmt: skip
    assert [e.user for e in got] == [inc["user"]]
    assert list(got[0].detail["images"].values()) == [inc["details"]["bad_image"]]
    assert got[0].verb == "patch" and got[0].reason == "change"
    # the RBAC escalation, the secret reads and the denied request are kept too
    rbac = day1.incident("rbac_escalation")
    ops = {
        (e.reason, e.user) for e in s.query(EvidenceQuery("audit", rbac["start_ts"] - 5, rbac["end_ts"] + 5))
    }
    assert {("denied", rbac["user"]), ("rbac", rbac["user"]), ("secret_read", rbac["user"])} <= ops
    assert s.meta["day"] == DAY and int(s.meta["records_seen"]) == len(day1.records)


def test_query_filters_and_limits(day1: Day) -> None:
    inc = day1.incident("image_pull_failure")
    t0, t1 = inc["start_ts"], inc["start_ts"] + 1800
    q = EvidenceQuery("event", t0, t1, inc["namespace"], workloads=(inc["workload"],), limit=5)
    first = day1.store.query(q)
    assert len(first) == 5 and [e.ts for e in first] == sorted(e.ts for e in first)
    last = day1.store.query(EvidenceQuery("event", t0, t1, inc["namespace"], workloads=(inc["workload"],), limit=5,
                                          newest_first=True))  # fmt: skip
    assert last[0].ts > first[-1].ts
    allrows = day1.store.query(EvidenceQuery("event", t0, t1, inc["namespace"], workloads=(inc["workload"],)))
    assert all(t0 <= e.ts < t1 and e.workload == inc["workload"] for e in allrows)
    assert {e.reason for e in allrows} >= {"BackOff", "Failed"}
    cm = day1.incident("configmap_change")
    got = day1.store.query(EvidenceQuery("audit", cm["start_ts"] - 10, cm["end_ts"] + 10,
                                         object_prefixes=(f"configmaps/{cm['workload']}",)))  # fmt: skip
    assert {e.object for e in got} == {f"configmaps/{cm['details']['configmap']}"}
    assert got[0].detail["config"]["db.pool.size"] == "abc"


def test_failure_mid_build_leaves_no_store(day1: Day, tmp_path: Path) -> None:
    path = store_path(tmp_path, OWNER, DAY)
    with pytest.raises(RuntimeError), EvidenceWriter.for_day(tmp_path, OWNER, DAY) as w:
        for i, rec in enumerate(day1.records):
            w.add(rec)
            if i == len(day1.records) // 2:
                raise RuntimeError("source failed")
    assert not path.exists()
    assert list(path.parent.iterdir()) == []  # no temp file left behind


def test_failed_rebuild_keeps_previous_store(day1: Day, tmp_path: Path) -> None:
    path = build_store(tmp_path, OWNER, DAY, day1.records[:1000])
    before = EvidenceStore(path).count()
    w = EvidenceWriter.for_day(tmp_path, OWNER, DAY)
    w.add_many(day1.records)
    w.abort()
    assert EvidenceStore(path).count() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_rebuild_is_idempotent_and_readers_keep_their_snapshot(day1: Day, tmp_path: Path) -> None:
    path = build_store(tmp_path, OWNER, DAY, day1.records)
    reader = EvidenceStore(path)
    q = EvidenceQuery("business", 0, 2e10, levels=("ERROR",))
    first = [e.to_dict() for e in reader.query(q)]
    build_store(tmp_path, OWNER, DAY, day1.records)  # rebuilt while the reader is open
    assert [e.to_dict() for e in reader.query(q)] == first
    again = EvidenceStore(path)
    assert [e.to_dict() for e in again.query(q)] == first
    assert again.count() == reader.count() == day1.store.count()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        store_path(tmp_path, "../etc", DAY)
    with pytest.raises(ValueError):
        store_path(tmp_path, OWNER, "yesterday")
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database at all" * 100)
    from agents.evidence import EvidenceError

    with pytest.raises(EvidenceError) as err:
        EvidenceStore(bad)
    assert err.value.code == "BadStore"
    assert EvidenceStore.open_day(tmp_path, OWNER, DAY) is None


def test_store_set_spans_midnight(day1: Day, tmp_path: Path) -> None:
    build_store(tmp_path, OWNER, DAY, day1.records)
    from datetime import datetime
    from zoneinfo import ZoneInfo

    midnight = datetime(2026, 3, 11, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    stores = StoreSet.for_window(tmp_path, OWNER, midnight - 3600, midnight + 600)
    assert len(stores.stores) == 1 and stores.missing == ["2026-03-11"]
    rows = stores.query(EvidenceQuery("business", midnight - 3600, midnight + 600))
    assert rows and all(midnight - 3600 <= e.ts < midnight for e in rows)
    with pytest.raises(sqlite3.OperationalError):  # read-only: the tracer can never write
        stores.stores[0]._db.execute("DELETE FROM evidence")
