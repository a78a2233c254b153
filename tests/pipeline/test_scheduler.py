"""Nightly scheduling: sample data for `make run`, catch-up of missing days, the cron job, the CLI."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agents.analyst.writer import has_results
from server.config import Settings
from server.scheduler import PipelineScheduler, ensure_sample_data, yesterday


def _settings(tmp_path: Path, **kw) -> Settings:
    return Settings(data_dir=tmp_path / "data", results_dir=tmp_path / "results", sample_lines=10_000,
                    llm_base_url="", **kw)  # fmt: skip


def test_yesterday_is_in_the_configured_timezone() -> None:
    s = Settings(timezone="Asia/Shanghai")
    # 2026-03-10 17:00 UTC is already 2026-03-11 01:00 in Shanghai
    assert yesterday(s, datetime(2026, 3, 10, 17, 0, tzinfo=ZoneInfo("UTC"))) == "2026-03-10"


def test_ensure_sample_data_generates_once(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    gt = ensure_sample_data(s)
    assert gt is not None and gt.exists()
    assert ensure_sample_data(s) is None  # data exists now
    assert ensure_sample_data(_settings(tmp_path, log_source="cos")) is None


async def test_catch_up_runs_only_missing_owners(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    day = yesterday(s)
    for owner in ("alice", "bob"):
        ensure_sample_data(s, owner=owner)
    sched = PipelineScheduler(s, owners=lambda: ["alice", "bob", "nobody"])
    first = await sched.catch_up()
    assert set(first) == {"alice", "bob", "nobody"}
    assert first["alice"] is not None and first["alice"].lines > 9_000
    assert has_results(s.results_dir, day, "alice") and has_results(s.results_dir, day, "bob")
    assert first["nobody"] is not None and first["nobody"].lines == 0  # no logs: an honest empty report
    assert first["nobody"].no_logs and not has_results(s.results_dir, day, "nobody")
    again = await sched.catch_up()
    # a day without logs is retried (they may arrive late); the others are done
    assert set(again) == {"nobody"}


async def test_owner_failure_does_not_stop_the_others(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    ensure_sample_data(s, owner="good")

    def sources(owner):
        if owner == "broken":
            raise RuntimeError("vault unavailable")
        from agents.sources.local import LocalSource

        return LocalSource(s.logs_path, owner)

    sched = PipelineScheduler(s, owners=lambda: ["broken", "good"], source_factory=sources)
    out = await sched.run_day()
    assert out["broken"] is None and "source unavailable" in sched.last_results["broken"]
    assert out["good"] is not None and out["good"].lines > 9_000


async def test_cron_job_is_scheduled_in_the_timezone(tmp_path: Path) -> None:
    s = _settings(tmp_path, pipeline_cron="30 2 * * *", timezone="Asia/Shanghai")
    sched = PipelineScheduler(s, owners=lambda: [])
    sched.start(catch_up=False)
    try:
        nxt = sched.next_run_time()
        assert nxt is not None
        local = nxt.astimezone(ZoneInfo("Asia/Shanghai"))
        assert (local.hour, local.minute) == (2, 30)
        job = sched.scheduler.get_job("nightly-pipeline")
        assert job.coalesce and job.misfire_grace_time >= 3600 and job.max_instances == 1
    finally:
        sched.shutdown()
    await asyncio.sleep(0)


def test_cli_sample_and_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from server.cli import main
    from server.config import get_settings

    monkeypatch.setenv("XOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XOPS_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("XOPS_LLM_BASE_URL", "")
    get_settings.cache_clear()
    try:
        assert main(["pipeline", "sample", "--day", "2026-03-10", "--lines", "10000", "--seed", "4"]) == 0
        out = capsys.readouterr().out
        assert "ground truth" in out and "image_pull_failure" in out
        assert main(["pipeline", "run", "--day", "2026-03-10", "--quiet", "--no-llm"]) == 0
        out = capsys.readouterr().out
        assert "lines/s" in out and "日志分析" in out and "一、" in out
        assert has_results(tmp_path / "results", "2026-03-10", "default")
    finally:
        get_settings.cache_clear()
