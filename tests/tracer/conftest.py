"""Generated sample days (several seeds) with their evidence stores, built once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agents.evidence import EvidenceStore, build_store
from agents.parsers import parse_stream
from agents.records import LogKind, LogRecord
from agents.sample_day import generate_day
from agents.sources.local import LocalSource

DAY = "2026-03-10"
OWNER = "default"
SEEDS = (1, 2, 3)
LINES = 40_000
TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class Day:
    root: Path
    ground_truth: dict[str, Any]
    records: list[LogRecord]
    store: EvidenceStore

    def incident(self, type_: str) -> dict[str, Any]:
        return next(i for i in self.ground_truth["incidents"] if i["type"] == type_)


def read_records(root: Path, owner: str = OWNER, day: str = DAY) -> list[LogRecord]:
    src = LocalSource(root, owner)
    out: list[LogRecord] = []
    for kind in LogKind:
        for ref in src.list_objects(kind, day):
            out.extend(parse_stream(kind, src.open_lines(ref), tz=TZ, source=ref.key))
    return out


def make_day(root: Path, seed: int, lines: int = LINES) -> Day:
    gen = generate_day(root / "logs", DAY, lines=lines, seed=seed, owner=OWNER)
    records = read_records(root / "logs")
    build_store(root / "data", OWNER, DAY, records)
    return Day(root, gen.ground_truth, records, EvidenceStore.open_day(root / "data", OWNER, DAY))


@pytest.fixture(scope="session", params=SEEDS, ids=lambda s: f"seed{s}")
def day(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Day:
    return make_day(tmp_path_factory.mktemp(f"tracer{request.param}"), request.param)


@pytest.fixture(scope="session")
def day1(tmp_path_factory: pytest.TempPathFactory) -> Day:
    return make_day(tmp_path_factory.mktemp("tracer-single"), 5)
