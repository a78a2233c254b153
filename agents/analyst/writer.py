"""Atomic result writing: ``<results_dir>/<day>/<owner>/{llm_analysis.md, llm_summary.txt, findings.json}``.

The three files are written (and fsynced) into a hidden temporary directory next to the target, which is then
swapped in: with ``renameat2(RENAME_EXCHANGE)`` where the kernel has it (readers never see a gap), else by two
renames. A crash at any point leaves either the previous complete report or the new complete one; a crash
between the two renames leaves the previous report under a hidden name, which `recover` puts back.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from agents.owner_ids import owner_path_id
from agents.report import Analysis, DayReport

ANALYSIS_MD = "llm_analysis.md"
SUMMARY_TXT = "llm_summary.txt"
FINDINGS_JSON = "findings.json"
FILES = (ANALYSIS_MD, SUMMARY_TXT, FINDINGS_JSON)
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def result_dir(results_dir: Path | str, day: str, owner: str) -> Path:
    return Path(results_dir) / day / owner_path_id(owner)  # 张三 → u-<hash>: one stable id per owner name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2); False when the platform cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)


def recover(results_dir: Path | str, day: str, owner: str, clean: bool = False) -> None:
    """Restore a report left hidden by a crash mid-swap; with ``clean`` (writers only) remove leftovers."""
    target = result_dir(results_dir, day, owner)
    parent = target.parent
    if not parent.is_dir():
        return
    olds = sorted(parent.glob(f".{owner}.old-*"), key=lambda p: p.stat().st_mtime)
    if not target.exists() and olds and all((olds[-1] / f).exists() for f in FILES):
        os.rename(olds[-1], target)
        olds = olds[:-1]
    if not clean:
        return
    for stale in [*olds, *parent.glob(f".{owner}.tmp-*")]:
        shutil.rmtree(stale, ignore_errors=True)


def write_results(
    results_dir: Path | str,
    day: str,
    owner: str,
    report: DayReport,
    analysis: Analysis,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the three files for (day, owner) atomically, replacing any previous result. Returns the directory."""
    target = result_dir(results_dir, day, owner)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    recover(results_dir, day, owner, clean=True)
    tmp = parent / f".{owner}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        doc = report.to_dict()
        doc.update(extra or {})
        doc["analysis"] = {"analyst": analysis.analyst, "extra": analysis.extra}
        _write_file(tmp / FINDINGS_JSON, json.dumps(doc, ensure_ascii=False, indent=1, default=str))
        _write_file(tmp / ANALYSIS_MD, analysis.analysis_md)
        _write_file(tmp / SUMMARY_TXT, analysis.summary.rstrip("\n") + "\n")
        _fsync_dir(tmp)
        if target.exists():
            if _exchange(tmp, target):
                shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous report
            else:
                old = parent / f".{owner}.old-{uuid.uuid4().hex[:12]}"
                os.rename(target, old)
                os.rename(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
        _fsync_dir(parent)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return target


def read_results(results_dir: Path | str, day: str, owner: str) -> tuple[DayReport, str, str] | None:
    """(report, analysis markdown, summary) of a finished run, or None if there is none."""
    recover(results_dir, day, owner)
    target = result_dir(results_dir, day, owner)
    try:
        doc = json.loads((target / FINDINGS_JSON).read_text(encoding="utf-8"))
        md = (target / ANALYSIS_MD).read_text(encoding="utf-8")
        summary = (target / SUMMARY_TXT).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    return DayReport.from_dict(doc), md, summary


def has_results(results_dir: Path | str, day: str, owner: str) -> bool:
    """A complete result for the day. A "no logs" result does not count: the catch-up retries that day."""
    target = result_dir(results_dir, day, owner)
    if not all((target / f).is_file() for f in FILES):
        return False
    try:
        doc = json.loads((target / FINDINGS_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return not (isinstance(doc, dict) and doc.get("no_logs"))
