"""Failures that say what they are, early: an unwritable output dir stops the run before any work; temp files
of a crashed run are removed; a day with no logs is a WARNING, never an all-clear."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from agents.evidence import store_path
from agents.pipeline import PipelineConfig, PipelineUnwritable, run
from agents.sources.local import LocalSource

DAY = "2026-03-10"


class _CountingSource(LocalSource):
    listed = 0

    def list_objects(self, kind, day):  # type: ignore[no-untyped-def]
        type(self).listed += 1
        return super().list_objects(kind, day)


def test_unwritable_results_dir_fails_before_reading_anything(tmp_path: Path) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("a file where the results directory should be")
    src = _CountingSource(tmp_path / "logs", "ops")
    t = time.perf_counter()
    with pytest.raises(PipelineUnwritable, match="cannot write"):
        run("ops", DAY, src, PipelineConfig(results_dir=blocker / "out", state_dir=tmp_path / "state"))
    assert src.listed == 0 and time.perf_counter() - t < 5


def test_a_crashed_runs_temp_files_are_cleaned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    final = store_path(tmp_path / "state", "ops", DAY)
    final.parent.mkdir(parents=True)
    stale = final.parent / f".{final.name}.k2p4q.tmp"
    stale.write_bytes(b"x" * 1024)
    (tmp_path / "logs" / "ops").mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="agents.pipeline"):
        res = run("ops", DAY, LocalSource(tmp_path / "logs", "ops"),
                  PipelineConfig(results_dir=tmp_path / "results", state_dir=tmp_path / "state"))  # fmt: skip
    assert not stale.exists()
    assert res.no_logs and any(
        r.levelno == logging.WARNING and "no logs" in r.getMessage() for r in caplog.records
    )


def test_cli_run_on_a_day_without_logs_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.cli import main
    from server.config import get_settings

    monkeypatch.setenv("XOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XOPS_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("XOPS_LLM_BASE_URL", "")
    get_settings.cache_clear()
    try:
        assert main(["pipeline", "run", "--day", DAY, "--quiet", "--no-llm", "--source", "local"]) == 4
        out = capsys.readouterr().out
        assert "NO LOGS" in out and "没有读到日志" in out and "没有发现明显异常" not in out
    finally:
        get_settings.cache_clear()


def test_sample_data_never_enters_a_real_owners_log_directory(tmp_path: Path) -> None:
    from server.config import Settings
    from server.scheduler import SAMPLE_MARKER, ensure_sample_data, yesterday

    s = Settings(
        data_dir=tmp_path / "data", results_dir=tmp_path / "results", sample_lines=2_000, llm_base_url=""
    )
    real = s.logs_path / "alice" / "2026-01-05" / "business"
    real.mkdir(parents=True)
    (real / "app.log").write_text("2026-01-05 10:00:00 ERROR real line\n")
    assert ensure_sample_data(s, owner="alice") is None  # alice has real logs (another day): never mixed
    assert not (s.logs_path / "alice" / yesterday(s)).exists()
    # a fresh owner gets a sample day, marked as such; the next day it may get another one
    assert ensure_sample_data(s, owner="demo") is not None
    assert (s.logs_path / "demo" / SAMPLE_MARKER).is_file()
    off = Settings(
        data_dir=tmp_path / "data2", results_dir=tmp_path / "r2", sample_data=False, llm_base_url=""
    )
    assert ensure_sample_data(off, owner="demo") is None and not (off.logs_path / "demo").exists()
