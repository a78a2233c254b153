"""Generated sample days and their pipeline results, built once per test session (they take ~2 s each)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agents.pipeline import PipelineConfig, PipelineResult, run
from agents.sample_day import generate_day
from agents.sources.local import LocalSource

DAY = "2026-03-10"
SEEDS = (1, 2, 3)
LINES = 20_000


@dataclass
class DayRun:
    root: Path
    ground_truth: dict[str, Any]
    result: PipelineResult
    findings_json: str
    summary: str


def make_run(root: Path, seed: int, lines: int = LINES, cos: bool = False, owner: str = "default") -> DayRun:
    gen = generate_day(root / "logs", DAY, lines=lines, seed=seed, owner=owner, local=not cos, cos=cos)
    cfg = PipelineConfig(results_dir=root / "results", state_dir=root / "state")
    res = run(owner, DAY, LocalSource(root / "logs", owner), cfg)
    return DayRun(
        root=root,
        ground_truth=json.loads(gen.ground_truth_path.read_text(encoding="utf-8")),
        result=res,
        findings_json=(res.out_dir / "findings.json").read_text(encoding="utf-8"),
        summary=(res.out_dir / "llm_summary.txt").read_text(encoding="utf-8"),
    )


@pytest.fixture(scope="session", params=SEEDS, ids=lambda s: f"seed{s}")
def day_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DayRun:
    return make_run(tmp_path_factory.mktemp(f"day{request.param}"), request.param)


@pytest.fixture(scope="session")
def cos_run(tmp_path_factory: pytest.TempPathFactory) -> DayRun:
    return make_run(tmp_path_factory.mktemp("cosday"), 11, cos=True)


def incident(run: DayRun, type_: str) -> dict[str, Any]:
    return next(i for i in run.ground_truth["incidents"] if i["type"] == type_)
