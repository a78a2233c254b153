"""One nightly run for one (owner, day): source → parse → mine → agents → index → analyst → write.

Records are streamed in batches: a batch of lines is parsed, mined (one miner per kind) and fed to the kind's
agent, then dropped, so memory holds per-template aggregates and bounded samples, never the day's lines.
Each kind is isolated: if its source fails the error is recorded in its `KindStats` and the other kinds still
complete. The analyst is the LLM one when given, with the deterministic analyst as the fallback on any failure.
A run is idempotent per (owner, day): the result directory is replaced atomically, and a lock file keeps two
runs of the same pair from overlapping.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agents.analyst.deterministic import DeterministicAnalyst
from agents.analyst.incidents import diagnose
from agents.analyst.writer import write_results
from agents.evidence import EvidenceWriter, store_path
from agents.findings import SEVERITIES
from agents.log_agents import AuditAgent, BusinessAgent, DayClock, EventAgent, TemplateHistory
from agents.log_agents.common import AgentResult
from agents.mining import TemplateMiner
from agents.owner_ids import owner_path_id
from agents.parsers import ParseStats, parse_stream
from agents.records import LogKind
from agents.report import Analysis, Analyst, DayIncident, DayReport, KindStats, SearchIndex
from agents.sources.base import LogSource, SourceError, day_window

log = logging.getLogger(__name__)

STAGES = ("source", "parse", "mine", "agents", "index", "analyst", "write")


class PipelineBusy(RuntimeError):
    """Another run of the same (owner, day) holds the lock."""


class PipelineUnwritable(RuntimeError):
    """The results or state directory cannot be written: said before any work is done."""


def check_writable(*dirs: Path) -> None:
    """Create each directory and write + remove a probe file in it; raise `PipelineUnwritable` if that fails."""
    for d in dirs:
        try:
            Path(d).mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=d)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise PipelineUnwritable(f"cannot write to {d}: {exc.strerror or exc}") from None


def clean_stale_temp(state_dir: Path, owner: str, day: str) -> int:
    """Remove temp files a crashed run of this (owner, day) left behind (call under the run lock)."""
    removed = 0
    ev = store_path(state_dir, owner, day)
    for tmp in ev.parent.glob(f".{ev.name}.*.tmp") if ev.parent.is_dir() else ():
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed += 1
    if removed:
        log.info("removed %d temp file(s) left by an interrupted run of %s/%s", removed, owner, day)
    return removed


def looked_at(source: LogSource, kinds: tuple[LogKind, ...], day: str) -> list[str]:
    """Where the source looks for each kind of one day (prefixes or directories), for a "no logs" report."""
    out: list[str] = []
    cfg = getattr(source, "config", None)
    base = getattr(source, "base", None)
    bucket = str(getattr(getattr(source, "creds", None), "bucket", "") or "")
    for kind in kinds:
        where = ""
        with contextlib.suppress(Exception):
            tmpl = cfg.template(kind) if cfg is not None else None
            if tmpl is not None and cfg is not None:
                first = tmpl.day_prefixes(date.fromisoformat(day), ZoneInfo(cfg.timezone))[:1]
                where = first[0] if first else tmpl.list_root
        if base is not None:
            where = f"{Path(base) / day / kind.value}/ 或 {Path(base) / 'cos' / where}"
        elif bucket:
            where = f"cos://{bucket}/{where}"
        out.append(f"{kind.value}: {where or type(source).__name__}")
    return out


@dataclass
class PipelineConfig:
    results_dir: Path
    state_dir: Path  # template history and lock files
    timezone: str = "Asia/Shanghai"
    kinds: tuple[LogKind, ...] = (LogKind.BUSINESS, LogKind.EVENT, LogKind.AUDIT)
    batch_size: int = 4096
    analyst_timeout_s: float = 180.0


@dataclass
class ProgressEvent:
    stage: str  # one of STAGES, or "done"
    kind: str = ""
    lines: int = 0  # lines read so far in this run
    bytes_done: int = 0  # bytes of finished objects so far
    bytes_total: int = 0  # bytes of all listed objects (known once listing is done)
    message: str = ""


Progress = Callable[[ProgressEvent], None]


@dataclass
class PipelineResult:
    owner: str
    day: str
    out_dir: Path
    report: DayReport
    analysis: Analysis
    stage_seconds: dict[str, float]
    lines: int
    records: int
    lines_per_second: dict[str, float]
    analyst_error: str | None = None
    index_error: str | None = None
    kind_errors: dict[str, str] = field(default_factory=dict)
    templates: list[dict[str, Any]] = field(default_factory=list)
    no_logs: bool = False  # not one line was read: the report says so, and a catch-up retries the day


@dataclass
class _Timers:
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    lines: int = 0
    records: int = 0
    bytes_done: int = 0
    bytes_total: int = 0


def _check(owner: str, day: str) -> None:
    owner_path_id(owner)  # InvalidOwnerName (a ValueError): the same rule as `owners add`
    date.fromisoformat(day)


@contextlib.contextmanager
def run_lock(state_dir: Path, owner: str, day: str) -> Iterator[None]:
    """Exclusive, non-blocking per-(owner, day) lock; released by the OS if the process dies."""
    path = Path(state_dir) / "locks" / f"{owner_path_id(owner)}__{day}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineBusy(f"a pipeline run for {owner}/{day} is already in progress") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing drops the flock


# ---------------------------------------------------------------- collect: source → parse → mine → agents


def _timed_lines(lines: Iterator[str], timers: _Timers, chunk: int = 2048) -> Iterator[str]:
    """Pass lines through, charging the time spent reading/gunzipping them to the "source" stage."""
    clock = time.perf_counter
    while True:
        t = clock()
        part = list(islice(lines, chunk))
        timers.seconds["source"] += clock() - t
        if not part:
            return
        timers.lines += len(part)
        yield from part


def _feed_kind(
    kind: LogKind,
    source: LogSource,
    day: str,
    agent: Any,
    miner: TemplateMiner,
    timers: _Timers,
    config: PipelineConfig,
    progress: Progress | None,
    evidence: EvidenceWriter | None = None,
) -> ParseStats:
    stats = ParseStats()
    clock = time.perf_counter
    t = clock()
    refs = source.list_objects(kind, day)
    timers.seconds["source"] += clock() - t
    timers.bytes_total += sum(max(0, r.size) for r in refs)
    tz = ZoneInfo(config.timezone)
    day_start = day_window(date.fromisoformat(day), tz)[0]
    add_many, observe = miner.add_many, agent.observe
    for ref in refs:
        try:
            t = clock()
            lines = source.open_lines(ref)
            timers.seconds["source"] += clock() - t
        except SourceError as exc:
            stats.errors.append(str(exc))
            continue
        records = iter(parse_stream(kind, _timed_lines(lines, timers), tz=tz, stats=stats, default_ts=day_start,
                                    source=ref.key))  # fmt: skip
        while True:
            t0 = clock()
            src0 = timers.seconds["source"]
            batch = list(islice(records, config.batch_size))
            t1 = clock()
            timers.seconds["parse"] += (t1 - t0) - (timers.seconds["source"] - src0)
            if not batch:
                break
            tids = add_many([r.message for r in batch])
            t2 = clock()
            timers.seconds["mine"] += t2 - t1
            for rec, tid in zip(batch, tids, strict=True):
                observe(rec, tid)
            if evidence is not None:  # notable records, indexed for the alert tracer
                evidence.add_many(batch, tids)
            timers.seconds["agents"] += clock() - t2
            timers.records += len(batch)
            if progress:
                progress(
                    ProgressEvent("parse", kind.value, timers.lines, timers.bytes_done, timers.bytes_total)
                )
        timers.bytes_done += max(0, ref.size)
        if progress:
            progress(
                ProgressEvent(
                    "source", kind.value, timers.lines, timers.bytes_done, timers.bytes_total, ref.key
                )
            )
    return stats


def collect(
    owner: str,
    day: str,
    source: LogSource,
    config: PipelineConfig,
    progress: Progress | None = None,
    timers: _Timers | None = None,
) -> tuple[DayReport, list[dict[str, Any]]]:
    """Read, parse, mine and analyse one day into a `DayReport` (no index, analyst or writing)."""
    _check(owner, day)
    timers = timers or _Timers()
    clock = DayClock(day, config.timezone)
    state = Path(config.state_dir)
    agents: dict[LogKind, Any] = {
        LogKind.BUSINESS: BusinessAgent(clock, TemplateHistory(state, owner, LogKind.BUSINESS)),
        LogKind.EVENT: EventAgent(clock),
        LogKind.AUDIT: AuditAgent(clock, TemplateHistory(state, owner, LogKind.AUDIT)),
    }
    miners = {kind: TemplateMiner() for kind in LogKind}
    kind_stats: dict[str, KindStats] = {}
    alive: dict[LogKind, Any] = {}
    evidence = EvidenceWriter.for_day(config.state_dir, owner, day)
    for kind in config.kinds:
        ks = KindStats(kind)
        kind_stats[kind.value] = ks
        try:
            pstats = _feed_kind(
                kind, source, day, agents[kind], miners[kind], timers, config, progress, evidence
            )
            alive[kind] = agents[kind]
            ks.lines, ks.records, ks.bad_lines = pstats.lines, pstats.records, pstats.bad
            ks.bad_samples = [f"line {s.line_no} ({s.reason}): {s.sample}" for s in pstats.samples]
            if pstats.errors:
                ks.error = "; ".join(pstats.errors[:3])[:1000]
        except Exception as exc:  # isolate: this kind failed, the others go on
            log.exception("pipeline %s/%s: %s logs failed", owner, day, kind.value)
            ks.error = f"{type(exc).__name__}: {exc}"[:1000]
    try:
        evidence.close()  # optional for the report: never fail the run for it
    except Exception:
        log.exception("evidence store for %s/%s not written", owner, day)
    t = time.perf_counter()
    known: set[str] = set()
    for agent in alive.values():
        known |= agent.workloads
    results: dict[LogKind, AgentResult] = {}
    for kind in (LogKind.BUSINESS, LogKind.EVENT, LogKind.AUDIT):
        agent = alive.get(kind)
        if agent is None:
            continue
        try:
            if kind is LogKind.AUDIT:
                context = {k.value: r.signals for k, r in results.items()}
                results[kind] = agent.finish(miners[kind], known, context)
            else:
                results[kind] = agent.finish(miners[kind], known)
            ks = kind_stats[kind.value]
            ks.levels = dict(agent.stats.levels)
            ks.templates = len(agent.stats.aggs)
        except Exception as exc:
            log.exception("pipeline %s/%s: %s agent failed", owner, day, kind.value)
            kind_stats[kind.value].error = f"agent failed: {type(exc).__name__}: {exc}"[:1000]
    timers.seconds["agents"] += time.perf_counter() - t
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    findings = [f for r in results.values() for f in r.findings]
    findings.sort(key=lambda f: (rank.get(f.severity, 9), -f.count))
    timeline = sorted((e for r in results.values() for e in r.timeline), key=lambda e: e["ts"])[:300]
    templates = [t for r in results.values() for t in r.templates]
    report = DayReport(owner=owner, day=day, generated_at=time.time(), stats=kind_stats, findings=findings,
                       timeline=timeline)  # fmt: skip
    return report, templates


# ---------------------------------------------------------------- run: + index → analyst → write


async def run_async(
    owner: str,
    day: str,
    source: LogSource,
    config: PipelineConfig,
    analyst: Analyst | None = None,
    index: Any | None = None,
    progress: Progress | None = None,
) -> PipelineResult:
    _check(owner, day)
    check_writable(Path(config.results_dir), Path(config.state_dir))
    started = time.perf_counter()
    timers = _Timers()
    with run_lock(config.state_dir, owner, day):
        clean_stale_temp(config.state_dir, owner, day)
        report, templates = await asyncio.to_thread(collect, owner, day, source, config, progress, timers)
        if timers.lines == 0:
            report.no_logs = True
            report.looked_at = looked_at(source, config.kinds, day)
            log.warning("pipeline %s/%s: no logs at all (looked at %s); this is not an all-clear",
                        owner, day, "; ".join(report.looked_at))  # fmt: skip
        else:
            report.incidents = await asyncio.to_thread(_diagnose, report, config)
        # The LLM analyst reads the index, so it is built first; the deterministic analyst doesn't, so the
        # report is written first and a listener (the on-demand broadcast) never waits for embeddings.
        index_first = index is not None and analyst is not None
        index_error = (
            await _index(owner, day, index, templates, report, timers, progress) if index_first else None
        )
        if progress:
            progress(ProgressEvent("analyst", lines=timers.lines))
        t = time.perf_counter()
        analysis, analyst_error = await _analyse(report, analyst, index, config)
        timers.seconds["analyst"] = time.perf_counter() - t
        report.stage_seconds = {k: round(v, 3) for k, v in timers.seconds.items()}
        if progress:
            progress(ProgressEvent("write", lines=timers.lines))
        t = time.perf_counter()
        extra = {
            "analyst": analysis.analyst,
            "analyst_error": analyst_error,
            "index_error": index_error,
            "templates": _notable_templates(templates),
        }
        out_dir = await asyncio.to_thread(
            write_results, config.results_dir, day, owner, report, analysis, extra
        )
        timers.seconds["write"] = time.perf_counter() - t
        if index is not None and not index_first:
            index_error = await _index(owner, day, index, templates, report, timers, progress)
    total = time.perf_counter() - started
    seconds = {k: round(v, 3) for k, v in timers.seconds.items()}
    seconds["total"] = round(total, 3)
    report.stage_seconds = seconds
    lps: dict[str, float] = {
        k: round(timers.lines / v)
        for k, v in seconds.items()
        if k in ("source", "parse", "mine", "agents") and v > 0
    }
    lps["end_to_end"] = round(timers.lines / total) if total > 0 else 0
    if progress:
        progress(
            ProgressEvent(
                "done", lines=timers.lines, bytes_done=timers.bytes_done, bytes_total=timers.bytes_total
            )
        )
    return PipelineResult(
        owner=owner, day=day, out_dir=out_dir, report=report, analysis=analysis, stage_seconds=seconds,
        lines=timers.lines, records=timers.records, lines_per_second=lps, analyst_error=analyst_error,
        index_error=index_error, kind_errors={k: v.error for k, v in report.stats.items() if v.error},
        templates=templates, no_logs=report.no_logs,
    )  # fmt: skip


def run(
    owner: str,
    day: str,
    source: LogSource,
    config: PipelineConfig,
    analyst: Analyst | None = None,
    index: Any | None = None,
    progress: Progress | None = None,
) -> PipelineResult:
    """Synchronous entry point (CLI, bench). Inside an event loop use `run_async`."""
    return asyncio.run(run_async(owner, day, source, config, analyst, index, progress))


def _diagnose(report: DayReport, config: PipelineConfig) -> list[DayIncident]:
    """The day's incidents traced to their causes (never fails the run)."""
    try:
        return diagnose(report, Path(config.state_dir), config.timezone)
    except Exception:
        log.exception(
            "tracing the incidents of %s/%s failed; the summary lists findings only", report.owner, report.day
        )
        return []


async def _index(
    owner: str,
    day: str,
    index: Any,
    templates: list[dict[str, Any]],
    report: DayReport,
    timers: _Timers,
    progress: Progress | None,
) -> str | None:
    """Index templates and findings; the index is optional, so a failure is returned, never raised."""
    if progress:
        progress(ProgressEvent("index", lines=timers.lines, message="indexing templates and findings"))
    t = time.perf_counter()
    error = None
    try:
        await asyncio.to_thread(index.index_day, owner, day, templates, report.findings)
    except Exception as exc:
        log.warning("pipeline %s/%s: index failed: %s", owner, day, exc)
        error = f"{type(exc).__name__}: {exc}"[:500]
    timers.seconds["index"] = time.perf_counter() - t
    return error


async def _analyse(
    report: DayReport, analyst: Analyst | None, index: SearchIndex | None, config: PipelineConfig
) -> tuple[Analysis, str | None]:
    error = None
    if analyst is not None:
        try:
            analysis = await asyncio.wait_for(analyst.analyze(report, index), config.analyst_timeout_s)
            if isinstance(analysis, Analysis) and analysis.summary.strip() and analysis.analysis_md.strip():
                return analysis, None
            error = "analyst returned an empty analysis"
        except Exception as exc:  # any failure → deterministic fallback, never a missing report
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
            log.warning(
                "analyst failed for %s/%s, using the deterministic fallback: %s",
                report.owner,
                report.day,
                error,
            )
    analysis = await DeterministicAnalyst().analyze(report, index)
    if error:
        analysis.extra["fallback_reason"] = error
    return analysis, error


def _notable_templates(templates: list[dict[str, Any]], per_kind: int = 30) -> list[dict[str, Any]]:
    """The templates kept in findings.json: WARN/ERROR ones first, then the most frequent, per kind."""
    out = []
    for kind in LogKind:
        rows = [t for t in templates if t["kind"] == kind.value]
        rows.sort(key=lambda t: (t["level"] not in ("ERROR", "FATAL", "WARN"), -t["count"]))
        out.extend(rows[:per_kind])
    return out
