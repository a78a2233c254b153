"""One database layer for every module: SQLAlchemy Core, SQLite by default, PostgreSQL when configured.

Modules declare their tables on the shared ``metadata`` (import this module, define ``Table(..., metadata)``)
and get connections from ``Database``. ``create_all`` runs at start-up.

Both backends run the same tests (tests/pg.py starts a throw-away PostgreSQL). Rules that keep the SQL portable:
timestamps are ``DateTime(timezone=True)`` written as aware UTC (SQLite reads them back naive: convert with
``as_utc``); row locks via ``with_for_update`` (PostgreSQL locks, SQLite serialises writers itself); races settled
by unique constraints and ``WHERE version = :seen`` guards, never by read-then-write in Python alone.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event

metadata = MetaData()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")  # a commit is on disk before anyone is told "stored"
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def normalize_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` mean the psycopg (v3) driver we ship, not SQLAlchemy's psycopg2 default."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        if self.url.startswith("sqlite"):
            self.engine: Engine = create_engine(self.url, future=True)
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # a server database: connections may be cut by a restart or failover, check before use
            self.engine = create_engine(self.url, future=True, pool_pre_ping=True)

    @classmethod
    def sqlite(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    def create_all(self) -> None:
        metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
