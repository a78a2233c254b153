"""Streaming entry point: lines of one object (file) → LogRecords, never raising on bad input.

Bad lines are counted and a few truncated samples kept in ``ParseStats``; errors from the line source
itself (a truncated gzip, a dropped connection) end the stream, are recorded in ``ParseStats.errors``,
and every record read before them is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from agents.parsers.audit import audit_from_obj
from agents.parsers.business import business_from_obj, business_from_text
from agents.parsers.cls import is_cls, unwrap_cls
from agents.parsers.common import truncate
from agents.parsers.k8s_event import event_from_obj
from agents.records import LogKind, LogRecord

SAMPLE_CHARS = 200
# A pretty-printed JSON document (e.g. `kubectl get events -o json`) is buffered until it closes;
# beyond this many lines it is given up on and counted as bad.
MAX_DOC_LINES = 500_000

_loads = json.loads


@dataclass(slots=True)
class BadLine:
    line_no: int  # 1-based line number within the object
    reason: str
    sample: str  # truncated to SAMPLE_CHARS
    source: str = ""


@dataclass(slots=True)
class ParseStats:
    lines: int = 0
    records: int = 0
    blank: int = 0
    bad: int = 0
    no_ts: int = 0  # records whose time was taken from the previous record / the default
    samples: list[BadLine] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # source-level failures (stream ended early)
    max_samples: int = 5

    def add_bad(self, line_no: int, reason: str, text: str, source: str = "") -> None:
        self.bad += 1
        if len(self.samples) < self.max_samples:
            self.samples.append(BadLine(line_no, reason, truncate(text, SAMPLE_CHARS), source))

    def merge(self, other: ParseStats) -> None:
        self.lines += other.lines
        self.records += other.records
        self.blank += other.blank
        self.bad += other.bad
        self.no_ts += other.no_ts
        room = self.max_samples - len(self.samples)
        if room > 0:
            self.samples.extend(other.samples[:room])
        self.errors.extend(other.errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "records": self.records,
            "blank": self.blank,
            "bad": self.bad,
            "no_ts": self.no_ts,
            "samples": [
                {"line": s.line_no, "reason": s.reason, "sample": s.sample, "source": s.source}
                for s in self.samples
            ],
            "errors": list(self.errors),
        }


class RecordStream:
    """Iterable of LogRecords with the ``stats`` of the parse (filled as records are consumed)."""

    __slots__ = ("_gen", "stats")

    def __init__(self, gen: Iterator[LogRecord], stats: ParseStats) -> None:
        self._gen = gen
        self.stats = stats

    def __iter__(self) -> Iterator[LogRecord]:
        return self._gen

    def __next__(self) -> LogRecord:
        return next(self._gen)


def _wrapped_items(obj: Any) -> list[Any] | None:
    """Items of a list wrapper: a JSON array, EventList / audit EventList, or any ``{"items": [...]}``."""
    if isinstance(obj, list):
        return obj
    if isinstance(obj, dict):
        items = obj.get("items")
        if isinstance(items, list) and ("kind" in obj or "apiVersion" in obj or len(obj) <= 3):
            return items
    return None


def parse_object(kind: LogKind, obj: Any, raw: str, tz: tzinfo = UTC) -> list[LogRecord] | None:
    """Records for one decoded JSON value (a single object or a list wrapper); None if it is not usable."""
    items = _wrapped_items(obj)
    if items is not None:
        out: list[LogRecord] = []
        for item in items:
            if isinstance(item, dict):
                got = parse_object(kind, item, json.dumps(item, ensure_ascii=False), tz)
                if got:
                    out.extend(got)
        return out or None
    if not isinstance(obj, dict):
        return None
    if kind is LogKind.BUSINESS:
        return [business_from_obj(obj, raw, tz)]
    meta = None
    if is_cls(obj):
        content, meta = unwrap_cls(obj)
        if not isinstance(content, dict):
            return None
        obj = content
    rec = event_from_obj(obj, raw, tz) if kind is LogKind.EVENT else audit_from_obj(obj, raw, tz)
    if rec is None:
        return None
    if meta is not None and not rec.ts:
        rec.ts = meta.ts
    return [rec]


def parse_line(kind: LogKind, line: str, tz: tzinfo = UTC) -> list[LogRecord] | None:
    """Records for one line (without the stream's bookkeeping); None if the line is unusable."""
    line = line.rstrip("\r\n")
    if not line.strip():
        return None
    try:
        obj = _loads(line)
    except ValueError:
        if kind is LogKind.BUSINESS:
            return [business_from_text(line, line, tz)]
        return None
    return parse_object(kind, obj, line, tz)


def parse_stream(
    kind: LogKind | str,
    lines: Iterable[str],
    *,
    tz: tzinfo = UTC,
    stats: ParseStats | None = None,
    default_ts: float = 0.0,
    source: str = "",
) -> RecordStream:
    """Parse the lines of one object lazily.

    ``kind`` selects the parser family (business lines fall back to plain text; event/audit lines must be
    JSON). Naive timestamps are read in ``tz``. A record without a time gets the previous record's time
    (or ``default_ts``). ``source`` labels bad-line samples. Pass a shared ``stats`` to aggregate files.
    """
    stats = stats if stats is not None else ParseStats()
    return RecordStream(_parse(LogKind(kind), lines, tz, stats, default_ts, source), stats)


def _parse(
    kind: LogKind, lines: Iterable[str], tz: tzinfo, stats: ParseStats, last_ts: float, source: str
) -> Iterator[LogRecord]:
    business = kind is LogKind.BUSINESS
    year = datetime.fromtimestamp(last_ts, tz).year if last_ts > 0 else None
    loads = _loads
    n = 0
    doc: list[str] | None = None  # lines of a pretty-printed JSON document being buffered
    doc_start = 0
    records = 0
    try:
        for line in lines:
            n += 1
            if line and (line[-1] == "\n" or line[-1] == "\r"):
                line = line.rstrip("\r\n")
            if doc is not None:
                doc.append(line)
                if line in ("}", "]"):  # a top-level closer: try the whole document
                    try:
                        value = loads("\n".join(doc))
                    except ValueError:
                        if len(doc) < MAX_DOC_LINES:
                            continue
                        stats.add_bad(doc_start, "unterminated JSON document", doc[0], source)
                        doc = None
                        continue
                    doc = None
                    got = parse_object(
                        kind, value, json.dumps(value, ensure_ascii=False) if type(value) is dict else "", tz
                    )
                    if not got:
                        stats.add_bad(doc_start, f"JSON document holds no {kind.value} records", "", source)
                        continue
                    for rec in got:
                        if rec.ts:
                            last_ts = rec.ts
                        else:
                            rec.ts = last_ts
                            stats.no_ts += 1
                        records += 1
                        yield rec
                elif len(doc) >= MAX_DOC_LINES:
                    stats.add_bad(doc_start, "JSON document too large", doc[0], source)
                    doc = None
                continue
            if not line or line.isspace():
                stats.blank += 1
                continue
            try:
                if line[0] == "{" or line[0] == "[":
                    try:
                        value = loads(line)
                    except ValueError as exc:
                        stripped = line.strip()
                        if stripped in ("{", "["):
                            doc, doc_start = [line], n
                            continue
                        if line[0] == "[" and business:  # "[2024-06-01 …] INFO …" is plain text
                            got = [business_from_text(line, line, tz, year)]
                            for rec in got:
                                if rec.ts:
                                    last_ts = rec.ts
                                else:
                                    rec.ts = last_ts
                                    stats.no_ts += 1
                                records += 1
                                yield rec
                            continue
                        if line[0] == "[":
                            stats.add_bad(n, "not JSON", line, source)
                            continue
                        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                        stats.add_bad(n, f"invalid JSON: {reason}", line, source)
                        if not business:
                            continue
                        got = [business_from_text(line, line, tz, year)]  # keep the text: nothing is lost
                    else:
                        if business and type(value) is dict:
                            # hot path (one object per line): no intermediate list
                            rec = business_from_obj(value, line, tz)
                            if rec.ts:
                                last_ts = rec.ts
                            else:
                                rec.ts = last_ts
                                stats.no_ts += 1
                            records += 1
                            yield rec
                            continue
                        else:
                            got = parse_object(kind, value, line, tz)
                            if not got:
                                stats.add_bad(n, f"no {kind.value} record in this JSON", line, source)
                                continue
                elif business:
                    got = [business_from_text(line, line, tz, year)]
                else:
                    stats.add_bad(n, "not JSON", line, source)
                    continue
            except Exception as exc:  # unexpected shapes must not end the stream
                stats.add_bad(n, f"parser error: {type(exc).__name__}", line, source)
                continue
            for rec in got:
                if rec.ts:
                    last_ts = rec.ts
                else:
                    rec.ts = last_ts
                    stats.no_ts += 1
                records += 1
                yield rec
        if doc is not None:
            stats.add_bad(doc_start, "unterminated JSON document", doc[0], source)
    except Exception as exc:  # the line source failed (truncated gzip, connection lost): keep what we have
        text = str(exc)
        if not (source and text.startswith(source)):
            text = f"{source + ': ' if source else ''}{type(exc).__name__}: {text}"
        stats.errors.append(f"{text} (after line {n})")
    finally:
        stats.lines += n
        stats.records += records
