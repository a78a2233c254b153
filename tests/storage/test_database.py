"""The database layer itself on both backends: every table's DDL, timestamps, URLs, lost connections."""

from __future__ import annotations

import importlib
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, inspect, select

from server.cases.store import CaseStore
from server.storage.db import Database, metadata, normalize_url, upsert
from tests.paths import REPO
from tests.pg import DbBackend, PgCluster


def table_modules() -> list[str]:
    """Every server module that declares tables on the shared metadata (found by reading, not by a list that a new
    store could be missing from)."""
    found = []
    for path in sorted((REPO / "server").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "from server.storage.db import" in text and "metadata" in text and "Table(" in text:
            found.append(".".join(path.relative_to(REPO).with_suffix("").parts))
    return found


def test_every_table_is_created_on_both_backends(db_backend: DbBackend, tmp_path: Path) -> None:
    modules = table_modules()
    assert "server.cases.store" in modules and "server.alerts.store" in modules
    for name in modules:
        importlib.import_module(name)
    db = db_backend.open(tmp_path / "all.sqlite3")
    created = set(inspect(db.engine).get_table_names())
    assert set(metadata.tables) <= created
    db.create_all()  # start-up runs it every time: a second run on an existing schema changes nothing
    assert set(inspect(db.engine).get_table_names()) == created


def test_timestamps_come_back_as_the_same_utc_instant(db_backend: DbBackend, tmp_path: Path) -> None:
    """SQLite returns naive values, PostgreSQL aware ones in the session's time zone: the stores hand out UTC."""
    db = db_backend.open(tmp_path / "tz.sqlite3")
    if db_backend.name == "postgresql":  # a server whose zone is not UTC (as Debian's would be in Shanghai)
        db.dispose()
        db = Database(db.url + "?options=-c%20timezone%3DAsia/Shanghai")
    before = datetime.now(UTC)
    case = CaseStore(db).create_case(owner="owner:alice", title="t")
    assert case.created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= case.created_at <= datetime.now(UTC) + timedelta(seconds=1)
    db.dispose()


def test_postgres_urls_mean_the_bundled_psycopg_driver() -> None:
    assert normalize_url("postgresql://u:p@db/x") == "postgresql+psycopg://u:p@db/x"
    assert normalize_url("postgres://u@db:5433/x") == "postgresql+psycopg://u@db:5433/x"
    assert normalize_url("postgresql+psycopg://u@db/x") == "postgresql+psycopg://u@db/x"
    assert normalize_url("sqlite:///data/x.sqlite3") == "sqlite:///data/x.sqlite3"


@pytest.mark.postgresql
def test_a_connection_the_server_dropped_is_replaced(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """A PostgreSQL restart or failover closes pooled connections: the next request must not fail on them."""
    backend = DbBackend("postgresql", pg_cluster)
    try:
        db = backend.open(tmp_path / "drop.sqlite3")
        store = CaseStore(db)
        case = store.create_case(
            owner="owner:alice", title="before the restart"
        )  # leaves a pooled connection
        dbname = db.engine.url.database
        with psycopg.connect(pg_cluster.url().replace("+psycopg", ""), autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", (dbname,)
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        again = store.get_case(case.id)
        assert again is not None and again.title == "before the restart"
    finally:
        backend.close()


def test_upsert_survives_two_first_writes_at_once(db_backend: DbBackend, tmp_path: Path) -> None:
    """Two threads (two connections) write the same new keys at the same moment: no error, one row per key."""
    db = db_backend.open(tmp_path / "upsert.sqlite3")
    probe = Table(
        "upsert_probe",
        MetaData(),
        Column("k", String(16), primary_key=True),
        Column("v", Integer, nullable=False),
    )
    probe.create(db.engine)
    keys = [f"k{i}" for i in range(15)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(value: int) -> None:
        try:
            for key in keys:
                barrier.wait(30)
                with db.engine.begin() as conn:
                    upsert(conn, probe, {"k": key}, {"v": value})
        except BaseException as exc:  # reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with db.engine.connect() as conn:
        rows = conn.execute(select(probe.c.k, probe.c.v)).all()
    assert sorted(k for k, _ in rows) == sorted(keys) and {v for _, v in rows} <= {1, 2}
    with db.engine.begin() as conn:
        upsert(conn, probe, {"k": "k0"}, {"v": 7})  # an existing row is updated in place
    with db.engine.connect() as conn:
        assert conn.execute(select(probe.c.v).where(probe.c.k == "k0")).scalar_one() == 7
