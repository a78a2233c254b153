"""A real analysed day for the tool and agent tests: a generated sample day run through the pipeline."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.pipeline import PipelineConfig, run
from agents.sample_day import generate_day
from agents.sources.local import LocalSource

DAY = "2025-11-20"
LINES = 20_000
OWNER = "default"


@dataclass
class AnalysedDay:
    results: Path  # results dir: <day>/<owner>/{findings.json, llm_summary.txt, llm_analysis.md}
    truth: dict[str, Any]  # the generator's ground truth: the incidents it injected

    def incident(self, type_: str) -> dict[str, Any]:
        return next(i for i in self.truth["incidents"] if i["type"] == type_)


def analysed_day(root: Path, day: str = DAY, owner: str = OWNER, seed: int = 1) -> AnalysedDay:
    """Generate one sample day under ``root`` and analyse it with the real pipeline (no LLM)."""
    sample = generate_day(root / "logs", day, lines=LINES, seed=seed, owner=owner)
    results = root / "results"
    run(
        owner,
        day,
        LocalSource(root / "logs", owner),
        PipelineConfig(results_dir=results, state_dir=root / "state"),
    )
    return AnalysedDay(results, sample.ground_truth)


def copy_day(
    results: Path, into: Path, day: str = DAY, owner: str = OWNER, as_day: str | None = None
) -> Path:
    """Copy one analysed (day, owner) into another results dir, optionally under another date."""
    target = into / (as_day or day) / owner
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(results / day / owner, target, dirs_exist_ok=True)
    if as_day:
        f = target / "findings.json"
        data = json.loads(f.read_text(encoding="utf-8"))
        data["day"] = as_day
        f.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return target


def findings(results: Path, day: str = DAY, owner: str = OWNER) -> dict[str, Any]:
    return json.loads((results / day / owner / "findings.json").read_text(encoding="utf-8"))
