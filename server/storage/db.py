"""One database layer for every module: SQLAlchemy Core, SQLite by default, PostgreSQL when configured.

Modules declare their tables on the shared ``metadata`` (import this module, define ``Table(..., metadata)``)
and get connections from ``Database``. ``create_all`` runs at start-up.

Both backends run the same tests (tests/pg.py starts a throw-away PostgreSQL). Rules that keep the SQL portable:
timestamps are ``DateTime(timezone=True)`` written as aware UTC (SQLite reads them back naive: convert with
``as_utc``); row locks via ``with_for_update`` (PostgreSQL locks, SQLite serialises writers itself); races settled
by unique constraints and ``WHERE version = :seen`` guards, never by read-then-write in Python alone.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite

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


def fit_text(value: str, limit: int) -> str:
    """``value`` if it fits a ``String(limit)`` column, else its start and a digest of the whole. PostgreSQL rejects a
    longer value where SQLite stores it; the digest keeps distinct long values distinct (they may be keys)."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
    return f"{value[: limit - len(digest) - 1]}~{digest}"


def upsert(conn: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Insert the row, or set ``values`` on the row whose unique ``key`` columns already match: one statement, so
    two writers racing on the first write cannot fail (SQLite and PostgreSQL share ``ON CONFLICT DO UPDATE``).

    Not "try INSERT, catch IntegrityError, UPDATE" in one transaction: on PostgreSQL the error aborts the transaction
    and the UPDATE fails too."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(table).values(**key, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=values))


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
    def configured(cls, database_url: str, sqlite_path: Path, *, override: str | None = None) -> Database:
        """The service's database: ``override`` (a CLI --database-url), else XOPS_DATABASE_URL, else the SQLite
        file under the data dir. Tables are created if missing."""
        url = override or database_url
        db = cls(url) if url else cls.sqlite(sqlite_path)
        db.create_all()
        return db

    @classmethod
    def sqlite(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    def create_all(self) -> None:
        metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
