"""Nightly pipeline scheduling: an APScheduler cron job in the configured time zone, plus catch-up on start.

The cron (``settings.pipeline_cron``, default 01:00) analyses yesterday for every owner. On start, any owner
whose yesterday result is missing is run at once (the machine may have been off at 01:00; the job also has a
misfire grace time and coalesces missed runs). Owners, sources, analysts and the index come from factories so
the vault (per-owner COS keys) and the LLM plug in without this module knowing them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import zlib
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from agents.analyst.writer import has_results
from agents.pipeline import PipelineBusy, PipelineConfig, PipelineResult, run_async
from agents.report import Analyst
from agents.sources.base import LogSource
from server.config import Settings

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from agents.index.store import LogIndex

log = logging.getLogger(__name__)

OwnersFn = Callable[[], list[str] | Awaitable[list[str]]]
SourceFactory = Callable[[str], LogSource | None]
AnalystFactory = Callable[[str], Analyst | None]  # None: the deterministic analyst
IndexFactory = Callable[[], "LogIndex"]


def yesterday(settings: Settings, now: datetime | None = None) -> str:
    tz = ZoneInfo(settings.timezone)
    now = now.astimezone(tz) if now else datetime.now(tz)
    return (now.date() - timedelta(days=1)).isoformat()


def pipeline_config(settings: Settings) -> PipelineConfig:
    return PipelineConfig(
        results_dir=Path(settings.results_dir),
        state_dir=Path(settings.data_dir) / "pipeline",
        timezone=settings.timezone,
    )


def local_source_factory(settings: Settings) -> SourceFactory:
    from agents.sources.base import SourceConfig
    from agents.sources.local import LocalSource

    return lambda owner: LocalSource(settings.logs_path, owner, SourceConfig(timezone=settings.timezone))


def ensure_sample_data(settings: Settings, day: str | None = None, owner: str | None = None) -> Path | None:
    """Generate a sample day (``settings.sample_lines`` lines) for yesterday in the local source if it has none.

    Returns the ground-truth path when a day was generated, None when data existed or the source is not local.
    """
    if settings.log_source != "local":
        return None
    from agents.sample_day import generate_day
    from agents.sources.local import LocalSource

    day = day or yesterday(settings)
    owner = owner or settings.default_owner
    source = LocalSource(settings.logs_path, owner)
    if any(source.list_objects(kind, day) for kind in ("business", "event", "audit")):
        return None
    seed = zlib.crc32(f"{owner}|{day}".encode())  # a different day gives different incidents, reproducibly
    result = generate_day(settings.logs_path, day, lines=settings.sample_lines, seed=seed, owner=owner,
                          timezone=settings.timezone)  # fmt: skip
    log.info("generated a sample day for %s/%s: %d lines (%s)", owner, day,
             result.ground_truth["generated_lines"], result.ground_truth_path)  # fmt: skip
    return result.ground_truth_path


def default_analyst_factory(settings: Settings) -> AnalystFactory:
    """The LLM analyst when an LLM is configured, else None (→ deterministic)."""

    def make(owner: str) -> Analyst | None:
        if not settings.llm_enabled:
            return None
        try:
            from agents.analyst.llm_analyst import LLMAnalyst
            from agents.llm import LLMClient, LLMConfig

            cfg = LLMConfig(base_url=settings.llm_base_url, api_key=settings.llm_api_key.get_secret_value(),
                            model=settings.llm_model, timeout_s=settings.llm_timeout_s,
                            requests_per_minute=settings.llm_requests_per_minute)  # fmt: skip
            return LLMAnalyst(LLMClient(cfg))
        except Exception as exc:  # a broken LLM setup must not stop the nightly report
            log.warning("LLM analyst unavailable, using the deterministic analyst: %s", type(exc).__name__)
            return None

    return make


class PipelineScheduler:
    def __init__(
        self,
        settings: Settings,
        owners: OwnersFn | None = None,
        source_factory: SourceFactory | None = None,
        analyst_factory: AnalystFactory | None = None,
        index_factory: IndexFactory | None = None,
    ) -> None:
        self.settings = settings
        self.owners = owners or (lambda: [settings.default_owner])
        self.source_factory = source_factory or (
            local_source_factory(settings) if settings.log_source == "local" else (lambda owner: None)
        )
        self.analyst_factory = analyst_factory or default_analyst_factory(settings)
        self.index_factory = index_factory
        self.config = pipeline_config(settings)
        self.scheduler: AsyncIOScheduler | None = None
        self._index: LogIndex | None = None
        self._run_lock = asyncio.Lock()  # one day-run at a time: the pipeline is CPU-bound
        self._owner_locks: dict[
            str, asyncio.Lock
        ] = {}  # an on-demand run waits for a nightly one, never races it
        self._background: set[asyncio.Task[None]] = set()
        self.last_results: dict[str, PipelineResult | str] = {}

    async def _owners(self) -> list[str]:
        got = self.owners()
        if inspect.isawaitable(got):
            got = await got
        return list(got)

    def _get_index(self) -> LogIndex | None:
        if self._index is None and self.index_factory is not None:
            try:
                self._index = self.index_factory()
            except Exception as exc:
                log.warning("vector index unavailable, running without it: %s", exc)
                self.index_factory = None
        return self._index

    async def run_owner(
        self, owner: str, day: str, *, only_missing: bool = False, index_later: bool = False
    ) -> PipelineResult | None:
        """Run one owner's day. ``index_later``: write the report first and build the vector index in the
        background (someone is waiting to hear it); ``only_missing``: skip when a report already exists."""
        lock = self._owner_locks.setdefault(owner, asyncio.Lock())
        async with lock:
            if only_missing and has_results(self.config.results_dir, day, owner):
                return None
            return await self._run_owner(owner, day, index_later)

    async def _run_owner(self, owner: str, day: str, index_later: bool) -> PipelineResult | None:
        try:
            source = self.source_factory(owner)
        except Exception as exc:  # e.g. the vault cannot give this owner's keys: skip only this owner
            log.warning("no log source for owner %s: %s", owner, type(exc).__name__)
            self.last_results[owner] = f"source unavailable: {type(exc).__name__}"
            return None
        if source is None:
            log.warning(
                "no log source for owner %s (COS needs the owner's keys in the vault); skipped", owner
            )
            self.last_results[owner] = "no source"
            return None
        analyst = self.analyst_factory(owner)
        index = await asyncio.to_thread(self._get_index)
        # the LLM analyst reads the index, so only a deterministic run can defer it
        defer = index_later and analyst is None and index is not None
        try:
            result = await run_async(owner, day, source, self.config, analyst=analyst,
                                     index=None if defer else index)  # fmt: skip
        except PipelineBusy as exc:
            log.info("%s", exc)
            return None
        except Exception as exc:  # one owner's failure must not stop the others (or the server)
            log.exception("pipeline failed for %s/%s", owner, day)
            self.last_results[owner] = f"{type(exc).__name__}: {exc}"
            return None
        self.last_results[owner] = result
        log.info("pipeline %s/%s done in %.1fs (%d lines, analyst %s)", owner, day,
                 result.stage_seconds.get("total", 0.0), result.lines, result.analysis.analyst)  # fmt: skip
        if defer and index is not None:  # (defer implies an index; said again for the type checker)
            task = asyncio.create_task(self._index_later(index, result))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return result

    async def _index_later(self, index: LogIndex, result: PipelineResult) -> None:
        try:
            await asyncio.to_thread(
                index.index_day, result.owner, result.day, result.templates, result.report.findings
            )
        except Exception:
            log.exception("indexing %s/%s failed (the report is written)", result.owner, result.day)

    async def run_day(
        self, day: str | None = None, only_missing: bool = False
    ) -> dict[str, PipelineResult | None]:
        day = day or yesterday(self.settings)
        date.fromisoformat(day)
        out: dict[str, PipelineResult | None] = {}
        async with self._run_lock:
            for owner in await self._owners():
                if only_missing and has_results(self.config.results_dir, day, owner):
                    continue
                out[owner] = await self.run_owner(owner, day, only_missing=only_missing)
        return out

    async def nightly(self) -> None:
        await self.run_day()

    async def catch_up(self) -> dict[str, PipelineResult | None]:
        """Run yesterday for every owner whose result is missing (e.g. the machine was off at 01:00)."""
        return await self.run_day(only_missing=True)

    def start(self, catch_up: bool = True) -> None:
        """Start the cron job on the running event loop (and schedule the catch-up right away)."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.cron import CronTrigger

        tz = ZoneInfo(self.settings.timezone)
        self.scheduler = AsyncIOScheduler(timezone=tz)
        self.scheduler.add_job(
            self.nightly,
            CronTrigger.from_crontab(self.settings.pipeline_cron, timezone=tz),
            id="nightly-pipeline",
            coalesce=True,
            misfire_grace_time=6 * 3600,
            max_instances=1,
            replace_existing=True,
        )
        if catch_up:
            self.scheduler.add_job(self.catch_up, "date", run_date=datetime.now(tz), id="pipeline-catch-up",
                                   misfire_grace_time=3600)  # fmt: skip
        self.scheduler.start()
        job = self.scheduler.get_job("nightly-pipeline")
        log.info("pipeline scheduled (%s %s), next run %s", self.settings.pipeline_cron, self.settings.timezone,
                 job.next_run_time if job else "?")  # fmt: skip

    def next_run_time(self) -> datetime | None:
        job = self.scheduler.get_job("nightly-pipeline") if self.scheduler else None
        return job.next_run_time if job else None

    def shutdown(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
