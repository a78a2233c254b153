"""`xiaozhi-ops pipeline run|sample`: run the three-log pipeline for one day, or generate a sample day."""

from __future__ import annotations

import argparse

from server.commands.days import DAY_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="three-log pipeline (business, k8s event, k8s audit)")
    psub = p.add_subparsers(dest="pipeline_cmd", required=True)
    r = psub.add_parser("run", help="analyse one day for one owner and write analysis_results/<day>/<owner>/")
    r.add_argument("--day", default=None, help=DAY_HELP)
    r.add_argument("--owner", default=None, help="owner name (default: XOPS_DEFAULT_OWNER)")
    r.add_argument(
        "--source",
        choices=("local", "cos"),
        default=None,
        help="cos: the owner's bucket with the keys bound by `owners bind-keys` (as the service reads it); "
        "local: the local log directory. Default: the owner's keys if bound, else XOPS_LOG_SOURCE",
    )
    r.add_argument(
        "--index", action="store_true", help="also update the vector index (loads the embedding model)"
    )
    r.add_argument(
        "--no-llm", action="store_true", help="use the deterministic analyst even if an LLM is configured"
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_run)
    s = psub.add_parser(
        "sample", help="generate a realistic sample day with injected incidents + ground truth"
    )
    s.add_argument("--day", default=None, help=DAY_HELP)
    s.add_argument("--lines", type=int, default=None, help="total lines (default: XOPS_SAMPLE_LINES)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--owner", default=None)
    s.add_argument("--out", default=None, help="root directory (default: the local log dir)")
    s.add_argument(
        "--cos-layout", action="store_true", help="also write the CLS→COS gzip layout (<root>/<owner>/cos/)"
    )
    s.add_argument("--gzip", action="store_true", help="gzip the local NDJSON files")
    s.set_defaults(func=_sample)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    from tqdm import tqdm

    from agents.pipeline import PipelineBusy, ProgressEvent
    from server.commands.days import DayError, resolve_day
    from server.config import get_settings
    from server.scheduler import PipelineScheduler

    settings = get_settings()
    try:
        day = resolve_day(args.day, settings.timezone)
    except DayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    owner = args.owner or settings.default_owner
    source, why = _source(settings, owner, args.source)
    if source is None:
        print(f"error: {why}", file=sys.stderr)
        return 2
    index_factory = None
    if args.index:
        from agents.index import LogIndex

        index_factory = lambda: LogIndex(settings.chroma_path)  # noqa: E731
    sched = PipelineScheduler(settings, owners=lambda: [owner], source_factory=lambda o: source,
                              index_factory=index_factory,
                              analyst_factory=(lambda o: None) if args.no_llm else None)  # fmt: skip
    bar = None if args.quiet else tqdm(total=0, unit="B", unit_scale=True, desc="pipeline")

    def progress(ev: ProgressEvent) -> None:
        if bar is None:
            return
        if ev.bytes_total and bar.total != ev.bytes_total:
            bar.total = ev.bytes_total
        bar.n = ev.bytes_done
        bar.set_postfix(stage=ev.stage, kind=ev.kind, lines=ev.lines, refresh=False)
        bar.refresh()

    from agents.pipeline import run_async

    try:
        result = asyncio.run(run_async(owner, day, source, sched.config, analyst=sched.analyst_factory(owner),
                                       index=sched._get_index(), progress=progress))  # fmt: skip
    except PipelineBusy as exc:
        print(exc)
        return 3
    finally:
        if bar is not None:
            bar.close()
    print(
        f"{owner} {day}: {result.lines} lines, {result.records} records, {len(result.report.findings)} findings"
    )
    for stage, sec in result.stage_seconds.items():
        lps = result.lines_per_second.get(stage)
        print(f"  {stage:8s} {sec:8.2f}s" + (f"  {lps:>10,} lines/s" if lps else ""))
    for kind, err in result.kind_errors.items():
        print(f"  {kind} logs incomplete: {err}")
    if result.analyst_error:
        print(f"  analyst fell back to deterministic: {result.analyst_error}")
    print(f"written to {result.out_dir} (analyst: {result.analysis.analyst})")
    print()
    print(result.analysis.summary)
    if (
        result.no_logs
    ):  # not an all-clear: nothing was read (the pipeline logged a WARNING with the locations)
        print(f"NO LOGS for {owner} {day}; looked at: " + "; ".join(result.report.looked_at))
        return 4
    return 0


def _source(settings, owner: str, wanted: str | None):  # -> (LogSource | None, reason)
    """The owner's log source exactly as the service builds it (OwnerDirectory over the vault)."""
    from agents.sources.base import SourceConfig
    from agents.sources.local import LocalSource
    from server.commands.owners import _open, _owner_store, _vault
    from server.owners import OwnerDirectory

    if wanted == "local":
        return LocalSource(settings.logs_path, owner, SourceConfig(timezone=settings.timezone)), ""
    settings, db = _open()
    directory = OwnerDirectory(settings, _owner_store(db), _vault(settings, db))
    if wanted == "cos" and not directory.has_keys(owner):
        known = directory.owner_id(owner) is not None
        return None, (
            f"owner {owner!r} has no Tencent Cloud keys bound; bind them with "
            f"`xiaozhi-ops owners bind-keys {owner} --region REGION --bucket NAME-APPID`"
            if known
            else f"no owner {owner!r}; create it with `xiaozhi-ops owners add {owner}`, then bind its keys"
        )
    source = directory.source_for(owner)
    if source is None:
        return None, (
            f"owner {owner!r} has no keys bound and XOPS_LOG_SOURCE={settings.log_source}: "
            f"bind keys with `xiaozhi-ops owners bind-keys {owner} …` or pass --source local"
        )
    return source, ""


def _sample(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from agents.sample_day import generate_day
    from server.commands.days import DayError, resolve_day
    from server.config import get_settings

    settings = get_settings()
    out = Path(args.out) if args.out else settings.logs_path
    try:
        day = resolve_day(args.day, settings.timezone)
    except DayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines = args.lines or settings.sample_lines
    res = generate_day(out, day, lines=lines, seed=args.seed, owner=args.owner or settings.default_owner,
                       timezone=settings.timezone, cos=args.cos_layout, gzip_local=args.gzip)  # fmt: skip
    gt = res.ground_truth
    print(f"generated {gt['generated_lines']} lines for {gt['owner']} {gt['day']} (seed {gt['seed']})")
    if res.local_dir:
        print(f"  local: {res.local_dir}")
    if res.cos_dir:
        print(f"  cos:   {res.cos_dir}")
    print(f"  ground truth: {res.ground_truth_path}")
    for inc in gt["incidents"]:
        print(f"  - {inc['type']}: {inc['namespace']}/{inc['workload']} {inc['user']} {inc['start']}")
    return 0
