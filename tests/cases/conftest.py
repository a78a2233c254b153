from __future__ import annotations

from pathlib import Path

import pytest

from server.cases.fsm import Risk
from server.cases.service import CaseService
from server.cases.store import StaticApprovers
from server.storage.db import Database

APPROVERS = StaticApprovers({"owner:alice": Risk.HIGH, "owner:bob": Risk.LOW})


@pytest.fixture
def db(tmp_path: Path):
    database = Database.sqlite(tmp_path / "cases.sqlite3")
    database.create_all()
    yield database
    database.dispose()


@pytest.fixture
def service(db: Database) -> CaseService:
    return CaseService(db, approvers=APPROVERS)
