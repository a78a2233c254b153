"""The log-source interface, object references, the CLS→COS key layout, and streaming line reading.

A source lists the objects (files) holding one owner's logs of one kind for one day and streams their
lines. Sources never load a whole object into memory; gzip is detected by its magic bytes.

CLS delivers logs to COS as ``<prefix>/<partition>/<yyyyMMddHHmm>_<…>.gz`` where the partition is a
strftime pattern chosen by the user (default ``%Y/%m/%d/%H/``), rendered in the delivery time zone.
``KeyTemplate`` renders that pattern for every hour of the owner's day; if nothing is found it retries
with non-padded numbers and finally lists the literal prefix and filters keys by the time in their file
name (``yyyyMMddHHmm_…``) or by LastModified.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from agents.parsers.stream import ParseStats, parse_stream
from agents.records import LogKind, LogRecord

GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK = 256 * 1024


class SourceError(Exception):
    """A source could not list or read an object. Messages never contain credentials.

    ``code`` is the provider's error code when there is one (``NoSuchKey``, ``AccessDenied``,
    ``SignatureDoesNotMatch``, ``AuthFailure.SignatureFailure``…), else a short local code.
    """

    def __init__(
        self, message: str, *, code: str = "", status: int = 0, key: str = "", request_id: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.key = key
        self.request_id = request_id


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for transient failures (5xx, connection errors): ``attempts`` tries in total, backoff doubling."""

    attempts: int = 4
    base_delay: float = 0.5  # seconds before the first retry
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep  # tests pass a no-op

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * (2.0**attempt))


@dataclass(frozen=True, slots=True)
class ObjectRef:
    key: str  # provider key (COS key, or path relative to the owner's local directory)
    kind: LogKind
    size: int = -1
    last_modified: float = 0.0  # epoch seconds
    etag: str = ""


# ---------------------------------------------------------------- key templates

_DIRECTIVE = re.compile(r"%(-?)([YymdHMjS%])")
_NAME_TIME = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\d{2})?(?!\d)")


def render_pattern(pattern: str, when: datetime) -> str:
    """strftime for the directives CLS partitions use, with ``%-m``-style non-padded forms on every platform."""

    def sub(m: re.Match[str]) -> str:
        flag, d = m.group(1), m.group(2)
        if d == "%":
            return "%"
        value = {
            "Y": when.year,
            "y": when.year % 100,
            "m": when.month,
            "d": when.day,
            "H": when.hour,
            "M": when.minute,
            "S": when.second,
            "j": when.timetuple().tm_yday,
        }[d]
        if d == "Y" or flag:
            return str(value)
        return f"{value:03d}" if d == "j" else f"{value:02d}"

    return _DIRECTIVE.sub(sub, pattern)


@dataclass(frozen=True, slots=True)
class KeyTemplate:
    """Where one kind of log lives: ``pattern`` with ``{prefix}`` and strftime directives.

    ``KeyTemplate("{prefix}/%Y/%m/%d/%H/", "cls/business")`` → ``cls/business/2024/06/01/00/`` … ``/23/``.
    A pattern without directives (``"{prefix}/"``) means a partition-less prefix.
    """

    prefix: str = ""
    pattern: str = "{prefix}/%Y/%m/%d/%H/"

    def _base(self) -> str:
        text = self.pattern.replace("{prefix}", self.prefix.strip("/"))
        return text.lstrip("/").replace("//", "/")

    @property
    def partitioned(self) -> bool:
        return _DIRECTIVE.search(self._base().replace("%%", "")) is not None

    @property
    def list_root(self) -> str:
        """The literal key prefix before the first directive (what to list when partitions don't match)."""
        base = self._base()
        m = _DIRECTIVE.search(base)
        root = base if m is None else base[: m.start()]
        return root.replace("%%", "%")

    def unpadded(self) -> KeyTemplate:
        return KeyTemplate(self.prefix, re.sub(r"%([mdH])", r"%-\1", self.pattern))

    def day_prefixes(self, day: date, tz: tzinfo) -> list[str]:
        """Distinct rendered prefixes for each hour of ``day`` in ``tz`` (DST-safe: steps in UTC)."""
        base = self._base()
        out: list[str] = []
        seen: set[str] = set()
        for instant in day_hours(day, tz):
            key = render_pattern(base, instant)
            if key not in seen:
                seen.add(key)
                out.append(key)
        return out


def day_window(day: date, tz: tzinfo) -> tuple[float, float]:
    """[start, end) of a local calendar day, as epoch seconds."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return start.timestamp(), end.timestamp()


def day_hours(day: date, tz: tzinfo) -> list[datetime]:
    start, end = day_window(day, tz)
    hours = []
    t = start
    while t < end:
        hours.append(datetime.fromtimestamp(t, tz))
        t += 3600
    return hours


def name_time(key: str, tz: tzinfo) -> float | None:
    """Delivery time from a CLS file name ``yyyyMMddHHmm[ss]_…`` (read in ``tz``), or None."""
    name = key.rsplit("/", 1)[-1]
    m = _NAME_TIME.search(name)
    if m is None:
        return None
    y, mo, d, h, mi = (int(g) for g in m.groups())
    try:
        return datetime(y, mo, d, h, mi, tzinfo=tz).timestamp()
    except ValueError:
        return None


DEFAULT_PREFIXES = {LogKind.BUSINESS: "business", LogKind.EVENT: "k8s-event", LogKind.AUDIT: "k8s-audit"}
DEFAULT_PATTERN = "{prefix}/%Y/%m/%d/%H/"

# ---------------------------------------------------------------- owner key templates (validated)

# Kinds as the CLS delivery names them, plus the short forms people type.
KIND_NAMES: dict[str, LogKind] = {
    "business": LogKind.BUSINESS,
    "k8s-event": LogKind.EVENT,
    "k8s-audit": LogKind.AUDIT,
    "event": LogKind.EVENT,
    "audit": LogKind.AUDIT,
    "k8s_event": LogKind.EVENT,
    "k8s_audit": LogKind.AUDIT,
}
KIND_HELP = "business, k8s-event or k8s-audit (short: event, audit)"
_ALLOWED_DIRECTIVES = set("YymdHMjS%")
_ANY_DIRECTIVE = re.compile(r"%(-?)(.?)")
MAX_TEMPLATE_LEN = 512


class KeyTemplateError(ValueError):
    """A key template or kind name that cannot be used; the message is one line for the user."""


def kind_from_name(name: str) -> LogKind:
    kind = KIND_NAMES.get(name.strip().lower())
    if kind is None:
        raise KeyTemplateError(f"unknown log kind {name.strip()!r}: use {KIND_HELP}")
    return kind


def parse_key_template(value: str, kind: LogKind, prefix: str = "") -> KeyTemplate:
    """One owner template for ``kind``, validated.

    ``value`` with strftime directives is a full pattern (``cls/biz/%Y%m%d/``); without, it is a directory
    under which CLS writes its default hourly partitions (``cls/business`` → ``cls/business/%Y/%m/%d/%H/``);
    empty means the default directory of the kind (``business``, ``k8s-event``, ``k8s-audit``). ``prefix`` is
    put in front of it (a common ``cls/``)."""
    value = value.strip()
    for text, what in ((value, "template"), (prefix, "prefix")):
        if len(text) > MAX_TEMPLATE_LEN:
            raise KeyTemplateError(f"{kind.value} {what} is longer than {MAX_TEMPLATE_LEN} characters")
        if any(c.isspace() or ord(c) < 32 for c in text):
            raise KeyTemplateError(f"{kind.value} {what} {text!r} contains whitespace or control characters")
        if ".." in text.split("/") or text.startswith("/"):
            raise KeyTemplateError(
                f"{kind.value} {what} {text!r} must be a relative key (no leading / or ..)"
            )
        if "{" in text.replace("{prefix}", "") or "}" in text.replace("{prefix}", ""):
            raise KeyTemplateError(f"{kind.value} {what} {text!r}: only {{prefix}} may appear in braces")
        for m in _ANY_DIRECTIVE.finditer(text):
            if m.group(2) not in _ALLOWED_DIRECTIVES or (m.group(1) and m.group(2) not in "mdHMjS"):
                raise KeyTemplateError(
                    f"{kind.value} {what} {text!r}: unsupported directive %{m.group(1)}{m.group(2)} "
                    "(use %Y %m %d %H %M, or %-m %-d %-H unpadded)"
                )
    if "%" in prefix.replace("%%", ""):
        raise KeyTemplateError(f"prefix {prefix!r} must not contain % directives")
    head = prefix.strip("/")
    if _DIRECTIVE.search(value.replace("%%", "")):
        pattern = value.replace("{prefix}", DEFAULT_PREFIXES[kind])
        return KeyTemplate("", f"{head}/{pattern}" if head else pattern)
    directory = value.strip("/") or DEFAULT_PREFIXES[kind]
    return KeyTemplate(f"{head}/{directory}" if head else directory, DEFAULT_PATTERN)


def owner_templates(pairs: dict[str, str], prefix: str = "") -> dict[LogKind, KeyTemplate]:
    """Every kind's template from ``KIND=TEMPLATE`` pairs and a common prefix (kinds not given keep their
    default directory under the prefix). Raises KeyTemplateError on an unknown kind or a bad template."""
    given: dict[LogKind, str] = {}
    for name, value in pairs.items():
        kind = kind_from_name(name)
        if kind in given:
            raise KeyTemplateError(f"two templates for {kind.value} logs ({name!r} and another name)")
        given[kind] = value
    return {kind: parse_key_template(given.get(kind, ""), kind, prefix) for kind in DEFAULT_PREFIXES}


def template_text(template: KeyTemplate) -> str:
    """The full pattern of a template, as stored and shown (``cls/business/%Y/%m/%d/%H/``)."""
    return template._base()


@dataclass(slots=True)
class SourceConfig:
    """Per-owner layout settings: one key template per log kind and the owner's time zone."""

    templates: dict[LogKind, KeyTemplate] = field(
        default_factory=lambda: {kind: KeyTemplate(prefix) for kind, prefix in DEFAULT_PREFIXES.items()}
    )
    timezone: str = "Asia/Shanghai"
    # When the partitioned listing finds nothing, list the literal root and filter by time (costs a full listing).
    fallback_scan: bool = True
    max_scan_keys: int = 200_000

    @classmethod
    def with_prefixes(
        cls,
        *,
        business: str = DEFAULT_PREFIXES[LogKind.BUSINESS],
        event: str = DEFAULT_PREFIXES[LogKind.EVENT],
        audit: str = DEFAULT_PREFIXES[LogKind.AUDIT],
        pattern: str = "{prefix}/%Y/%m/%d/%H/",
        timezone: str = "Asia/Shanghai",
    ) -> SourceConfig:
        return cls(
            templates={
                LogKind.BUSINESS: KeyTemplate(business, pattern),
                LogKind.EVENT: KeyTemplate(event, pattern),
                LogKind.AUDIT: KeyTemplate(audit, pattern),
            },
            timezone=timezone,
        )

    def template(self, kind: LogKind | str) -> KeyTemplate:
        return self.templates[LogKind(kind)]

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)


Lister = Callable[[str], Iterable[ObjectRef]]  # prefix → objects whose key starts with it


def resolve_day(
    lister: Lister, template: KeyTemplate, day: date, tz: tzinfo, config: SourceConfig
) -> list[ObjectRef]:
    """Objects of one day under ``template``: hourly partitions, then non-padded, then a filtered scan."""
    candidates = [template] if template.partitioned else []
    if template.partitioned:
        unpadded = template.unpadded()
        if unpadded.day_prefixes(day, tz) != template.day_prefixes(day, tz):
            candidates.append(unpadded)
    for tpl in candidates:
        found: dict[str, ObjectRef] = {}
        for prefix in tpl.day_prefixes(day, tz):
            for ref in lister(prefix):
                found.setdefault(ref.key, ref)
        if found:
            return sorted(found.values(), key=lambda r: r.key)
    if template.partitioned and not config.fallback_scan:
        return []
    start, end = day_window(day, tz)
    out: list[ObjectRef] = []
    for n, ref in enumerate(lister(template.list_root)):
        if n >= config.max_scan_keys:
            break
        when = name_time(ref.key, tz)
        if when is None:
            when = ref.last_modified
        if start <= when < end:
            out.append(ref)
    return sorted(out, key=lambda r: r.key)


# ---------------------------------------------------------------- streaming lines


def text_lines(stream: BinaryIO, name: str = "") -> Iterator[str]:
    """Lines of a binary stream (split on LF; a CRLF's CR is left for the parser), gunzipped if gzip magic.

    Reads fixed-size chunks, so memory stays bounded whatever the object size. Invalid UTF-8 is replaced.
    A truncated or corrupt stream yields every line before the damage (the partial last one included),
    then raises ``SourceError(code="TruncatedObject")``.
    """
    # (typeshed wants a RawIOBase for BufferedReader; any binary stream with readinto works: files, HTTP bodies)
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream, READ_CHUNK)  # type: ignore[type-var]
    try:
        try:
            head = buffered.peek(2)[:2]
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(
                f"{name}: cannot read ({type(exc).__name__})", code="ReadError", key=name
            ) from None
        binary: Any = gzip.GzipFile(fileobj=buffered, mode="rb") if head == GZIP_MAGIC else buffered
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        first = True
        while True:
            try:
                chunk = binary.read1(READ_CHUNK)
            except SourceError:
                if pending:
                    yield pending.rstrip("\r")
                raise
            except Exception as exc:  # EOFError/BadGzipFile/zlib.error/connection errors
                tail = pending + decoder.decode(b"", final=True)
                if tail:
                    yield tail.rstrip("\r")
                raise SourceError(
                    f"{name}: object truncated or corrupt ({type(exc).__name__}: {exc})",
                    code="TruncatedObject",
                    key=name,
                ) from None
            if not chunk:
                break
            text = decoder.decode(chunk)
            if first and text:
                first = False
                if text[0] == "\ufeff":
                    text = text[1:]
            if pending:
                text = pending + text
            lines = text.split("\n")
            pending = lines.pop()
            yield from lines
        tail = pending + decoder.decode(b"", final=True)
        if tail:
            yield tail
    finally:
        buffered.close()


# ---------------------------------------------------------------- interface


class LogSource(ABC):
    """Where one owner's logs come from (local directory, COS bucket…)."""

    config: SourceConfig

    @abstractmethod
    def list_objects(self, kind: LogKind | str, day: date | str) -> list[ObjectRef]:
        """The objects holding ``kind`` logs of ``day`` (owner's local calendar day); empty if none."""

    @abstractmethod
    def open_lines(self, ref: ObjectRef) -> Iterator[str]:
        """Stream the text lines of one object; raises SourceError (after the good lines) on failure."""

    def iter_records(
        self, kind: LogKind | str, day: date | str, stats: ParseStats | None = None
    ) -> Iterator[LogRecord]:
        """Every record of one kind and day, parsed lazily; failures of single objects go to ``stats.errors``."""
        kind = LogKind(kind)
        stats = stats if stats is not None else ParseStats()
        tz = self.config.tz
        day_start = day_window(as_date(day), tz)[0]
        for ref in self.list_objects(kind, day):
            try:
                lines = self.open_lines(ref)
                yield from parse_stream(kind, lines, tz=tz, stats=stats, default_ts=day_start, source=ref.key)
            except SourceError as exc:  # raised when opening; errors mid-stream are caught by parse_stream
                stats.errors.append(str(exc))


def as_date(day: date | str) -> date:
    if isinstance(day, datetime):
        return day.date()
    if isinstance(day, date):
        return day
    return date.fromisoformat(day)


def utc_epoch(text: str) -> float:
    """Epoch seconds from COS ``LastModified`` (``2024-06-02T00:10:00.000Z``)."""
    try:
        dt = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return 0.0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
