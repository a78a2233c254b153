from __future__ import annotations

from pathlib import Path

import pytest

from server.cases.fsm import Risk
from server.cases.service import CaseService
from server.cases.store import StaticApprovers
from server.storage.db import Database
from tests.pg import DbBackend

APPROVERS = StaticApprovers({"owner:alice": Risk.HIGH, "owner:bob": Risk.LOW})


@pytest.fixture
def db(db_backend: DbBackend, tmp_path: Path) -> Database:
    """A fresh database, once on SQLite and once on PostgreSQL (closed by ``db_backend``)."""
    return db_backend.open(tmp_path / "cases.sqlite3")


@pytest.fixture
def service(db: Database) -> CaseService:
    return CaseService(db, approvers=APPROVERS)
