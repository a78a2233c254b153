from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server.tools.base import Caller
from server.tools.context import ToolContext
from server.tools.toolsets import build_registry
from tests.conftest import make_settings
from tests.tools.helpers import AnalysedDay, analysed_day


@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory) -> AnalysedDay:
    """One analysed sample day (2025-11-20, owner "default") and its ground truth; read-only for tests."""
    return analysed_day(tmp_path_factory.mktemp("day"))


@pytest.fixture(scope="session")
def day_results(day: AnalysedDay) -> Path:
    return day.results


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[object, object, object]]:
    """(Database, CaseService, AlertService) on a fresh SQLite file."""
    from server.commands.mcp import open_services

    db, cases, alerts = open_services(make_settings(tmp_path))
    yield db, cases, alerts
    db.dispose()


@pytest.fixture
def ctx(tmp_path: Path, day_results: Path, services: tuple[object, object, object]) -> ToolContext:
    settings = make_settings(tmp_path, results_dir=day_results)
    _, cases, alerts = services
    return ToolContext.from_settings(settings, cases=cases, alerts=alerts)


@pytest.fixture
def registry():
    return build_registry()


HUMAN = Caller(actor="console", ai=False)
