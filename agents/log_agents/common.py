"""What the three log agents share: the day clock, per-template aggregates, template history, spike detection.

Agents see each record once (streaming) and keep only aggregates: one `TemplateAgg` per mined template and
bounded samples, so a day of millions of lines costs memory proportional to its templates, not its lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import statistics
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from agents.findings import Finding
from agents.owner_ids import owner_path_id
from agents.records import LogKind, LogRecord

HOURS = 24
BIN_SECONDS = 300
DAY_BINS = 288  # 5-minute bins: fine enough to tell "after the change" from "before"
MAX_EXAMPLES = 3
MAX_EXAMPLE_CHARS = 500
ERROR_LEVELS = frozenset({"ERROR", "FATAL"})
NOTABLE_LEVELS = frozenset({"WARN", "ERROR", "FATAL"})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


class Miner(Protocol):
    def add(self, message: str) -> int: ...
    def template(self, tid: int) -> str: ...
    def canonical(self, tid: int) -> int: ...


def clean_text(text: str, limit: int = MAX_EXAMPLE_CHARS) -> str:
    """Log text is untrusted: drop control/bidi characters, flatten newlines, cap the length."""
    text = _CONTROL.sub("", text.replace("\r", " ").replace("\n", " ").replace("\t", " "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def template_hash(kind: str, template: str) -> str:
    return hashlib.sha1(f"{kind}|{template}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DayClock:
    """Maps epoch seconds to hour-of-day and 5-minute bins of one local calendar day (clamped)."""

    day: str
    timezone: str = "Asia/Shanghai"

    @property
    def start(self) -> float:
        d = date.fromisoformat(self.day)
        return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(self.timezone)).timestamp()

    def hour(self, ts: float, start: float) -> int:
        h = int((ts - start) // 3600)
        return 0 if h < 0 else HOURS - 1 if h >= HOURS else h

    def bin(self, ts: float, start: float) -> int:
        b = int((ts - start) // BIN_SECONDS)
        return 0 if b < 0 else DAY_BINS - 1 if b >= DAY_BINS else b

    def local_time(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, ZoneInfo(self.timezone)).strftime("%H:%M")


@dataclass(slots=True)
class TemplateAgg:
    tid: int
    count: int = 0
    levels: dict[str, int] = field(default_factory=dict)
    hours: list[int] = field(default_factory=lambda: [0] * HOURS)
    first_ts: float = math.inf
    last_ts: float = 0.0
    examples: list[str] = field(default_factory=list)
    workloads: dict[str, int] = field(default_factory=dict)
    namespaces: dict[str, int] = field(default_factory=dict)
    bins: list[int] | None = None  # 5-minute counts, kept only for WARN/ERROR templates

    @property
    def level(self) -> str:
        """The most severe level seen often enough to matter (≥ 10% of the lines), else the commonest."""
        for lv in ("FATAL", "ERROR", "WARN"):
            if self.levels.get(lv, 0) * 10 >= self.count:
                return lv
        return max(self.levels, key=self.levels.__getitem__) if self.levels else "INFO"


class TemplateStats:
    """Per-template counts, levels, hours, workloads, first/last time and a few examples."""

    def __init__(self, kind: LogKind, clock: DayClock) -> None:
        self.kind = kind
        self.clock = clock
        self.start = clock.start
        self.aggs: dict[int, TemplateAgg] = {}
        self.levels: dict[str, int] = {}
        self.hours = [0] * HOURS
        self.records = 0

    def add(self, rec: LogRecord, tid: int) -> TemplateAgg:
        agg = self.aggs.get(tid)
        if agg is None:
            agg = self.aggs[tid] = TemplateAgg(tid)
        ts = rec.ts
        h = int((ts - self.start) // 3600)
        h = 0 if h < 0 else 23 if h > 23 else h
        lv = rec.level
        agg.count += 1
        agg.hours[h] += 1
        self.hours[h] += 1
        agg.levels[lv] = agg.levels.get(lv, 0) + 1
        self.levels[lv] = self.levels.get(lv, 0) + 1
        self.records += 1
        if ts < agg.first_ts:
            agg.first_ts = ts
        if ts > agg.last_ts:
            agg.last_ts = ts
        if len(agg.examples) < MAX_EXAMPLES:
            agg.examples.append(clean_text(rec.raw or rec.message))
        w = rec.workload
        if w:
            agg.workloads[w] = agg.workloads.get(w, 0) + 1
        if lv in NOTABLE_LEVELS:
            if rec.namespace:
                agg.namespaces[rec.namespace] = agg.namespaces.get(rec.namespace, 0) + 1
            if agg.bins is None:
                agg.bins = [0] * DAY_BINS
            b = int((ts - self.start) // BIN_SECONDS)
            agg.bins[0 if b < 0 else DAY_BINS - 1 if b >= DAY_BINS else b] += 1
        return agg

    def canonicalize(self, miner: Miner) -> None:
        """Merge the aggregates of template ids the miner merged since they were first seen."""
        canonical = getattr(miner, "canonical", None)
        if canonical is None:
            return
        merged: dict[int, TemplateAgg] = {}
        for tid, agg in self.aggs.items():
            root = canonical(tid)
            into = merged.get(root)
            if into is None:
                agg.tid = root
                merged[root] = agg
            else:
                _merge_agg(into, agg)
        self.aggs = merged

    def templates(self, miner: Miner) -> list[dict[str, Any]]:
        """Template rows for the index and findings.json (sorted by count)."""
        rows = []
        for agg in sorted(self.aggs.values(), key=lambda a: -a.count):
            text = miner.template(agg.tid)
            top_wl = max(agg.workloads, key=agg.workloads.__getitem__) if agg.workloads else ""
            top_ns = max(agg.namespaces, key=agg.namespaces.__getitem__) if agg.namespaces else ""
            rows.append(
                {
                    "id": template_hash(self.kind.value, text),
                    "kind": self.kind.value,
                    "template": clean_text(text, 1000),
                    "level": agg.level,
                    "count": agg.count,
                    "levels": dict(agg.levels),
                    "workload": top_wl,
                    "namespace": top_ns,
                    "first_ts": agg.first_ts if agg.count else 0.0,
                    "last_ts": agg.last_ts,
                }
            )
        return rows


def _merge_agg(a: TemplateAgg, b: TemplateAgg) -> None:
    a.count += b.count
    for src, dst in ((b.levels, a.levels), (b.workloads, a.workloads), (b.namespaces, a.namespaces)):
        for k, v in src.items():
            dst[k] = dst.get(k, 0) + v
    a.hours = [x + y for x, y in zip(a.hours, b.hours, strict=True)]
    a.first_ts = min(a.first_ts, b.first_ts)
    a.last_ts = max(a.last_ts, b.last_ts)
    a.examples = (a.examples + b.examples)[:MAX_EXAMPLES]
    if b.bins is not None:
        a.bins = b.bins if a.bins is None else [x + y for x, y in zip(a.bins, b.bins, strict=True)]


# ---------------------------------------------------------------- spikes


def hourly_spikes(counts: list[int], min_count: int = 8, ratio: float = 3.0, z: float = 4.0) -> list[int]:
    """Hours whose count stands out from the day: robust baseline (median), robust spread (MAD), Poisson floor.

    An hour is a spike when its count is ≥ ``min_count``, ≥ ``ratio`` × the median, and more than ``z`` robust
    standard deviations above the median (the deviation is at least √median, the Poisson noise of the baseline).
    """
    if not counts:
        return []
    med = statistics.median(counts)
    mad = statistics.median(abs(c - med) for c in counts)
    sigma = max(1.4826 * mad, math.sqrt(med), 1.0)
    threshold = max(min_count, ratio * med, med + z * sigma)
    return [h for h, c in enumerate(counts) if c >= threshold]


def contiguous(hours: list[int]) -> list[tuple[int, int]]:
    """[3, 4, 5, 9] → [(3, 5), (9, 9)]."""
    out: list[tuple[int, int]] = []
    for h in hours:
        if out and h == out[-1][1] + 1:
            out[-1] = (out[-1][0], h)
        else:
            out.append((h, h))
    return out


# ---------------------------------------------------------------- template history (new vs previous days)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class TemplateHistory:
    """Per-owner, per-kind record of which templates (and users) were seen on which days.

    File: ``<state_dir>/template_history/<owner>/<kind>.json`` =
    ``{"days": [...], "templates": {hash: {"first": day, "last": day, "template": text}}, "users": {name: first}}``.
    "New" means first seen on this day while at least one earlier day is known, so re-running a day gives the
    same answer and the very first day (no baseline) reports nothing as new.
    """

    def __init__(self, state_dir: Path, owner: str, kind: LogKind) -> None:
        self.path = Path(state_dir) / "template_history" / owner_path_id(owner) / f"{kind.value}.json"
        self.data = self._load()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("templates"), dict):
                data.setdefault("days", [])
                data.setdefault("users", {})
                return data
        except (OSError, ValueError):
            pass
        return {"days": [], "templates": {}, "users": {}}

    def has_baseline(self, day: str) -> bool:
        return any(d < day for d in self.data["days"])

    def is_new(self, key: str, day: str) -> bool:
        if not self.has_baseline(day):
            return False
        entry = self.data["templates"].get(key)
        return entry is None or entry["first"] >= day

    def is_new_user(self, user: str, day: str) -> bool:
        if not self.has_baseline(day):
            return False
        first = self.data["users"].get(user)
        return first is None or first >= day

    def update(self, day: str, templates: dict[str, str], users: list[str] | None = None) -> None:
        """Merge this day's templates/users and save (under a file lock; other days may run concurrently)."""
        with _file_lock(self.path.with_suffix(".lock")):
            self.data = self._load()  # re-read: another day may have written meanwhile
            t = self.data["templates"]
            for key, text in templates.items():
                entry = t.get(key)
                if entry is None:
                    t[key] = {"first": day, "last": day, "template": text[:500]}
                else:
                    entry["first"] = min(entry["first"], day)
                    entry["last"] = max(entry["last"], day)
            u = self.data["users"]
            for user in users or ():
                u[user] = min(u.get(user, day), day)
            if day not in self.data["days"]:
                self.data["days"] = sorted([*self.data["days"], day])[-400:]
            atomic_write_text(self.path, json.dumps(self.data, ensure_ascii=False))


# ---------------------------------------------------------------- agent results


@dataclass
class AgentResult:
    kind: LogKind
    findings: list[Finding] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)  # rows for the index
    timeline: list[dict[str, Any]] = field(default_factory=list)
    signals: dict[str, Any] = field(default_factory=dict)  # per-workload bins etc. for correlation


def severity_by_count(count: int, high: int = 200, medium: int = 20) -> str:
    return "high" if count >= high else "medium" if count >= medium else "low"


def top_items(d: dict[str, int], n: int = 5) -> dict[str, int]:
    return dict(sorted(d.items(), key=lambda kv: -kv[1])[:n])
