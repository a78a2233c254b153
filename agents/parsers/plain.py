"""Plain text log lines: find a leading timestamp and a level word, keep the rest as the message."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

from agents.parsers.common import level_in_text, parse_ts
from agents.records import LogKind, LogRecord

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}

# One alternation tried once per line; the named group tells which layout matched.
_TS = re.compile(
    r"""^\[?(?:
      (?P<iso>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)
     |(?P<slash>\d{4}/\d{2}/\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?)
     |(?P<yy>\d{2}/\d{2}/\d{2}[ ]\d{2}:\d{2}:\d{2})
     |(?P<hdfs>\d{6}[ ]\d{6})
     |(?P<ctime>(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[ ](?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[ ]+\d{1,2}[ ]\d{2}:\d{2}:\d{2}[ ]\d{4})
     |(?P<syslog>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[ ]+\d{1,2}[ ]\d{2}:\d{2}:\d{2})
     |(?P<klog>[IWEF]\d{4}[ ]\d{2}:\d{2}:\d{2}\.\d+)
     |(?P<epoch>\d{10}(?:\.\d+)?|\d{13})(?=[\s\]])
    )\]?[ \t]*""",
    re.VERBOSE,
)
_ISO_NEAR = re.compile(
    r"(?<!\d)(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)(?!\d)"
)
# CRI container log: "<RFC3339Nano> stdout F <log>"
_CRI = re.compile(r"^(stdout|stderr) ([FP]) ")
_LEAD_LEVEL = re.compile(
    r"^(?:-[ \t]+)?[\[<(]?(TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|ERR|FATAL|CRITICAL|"
    r"trace|debug|info|notice|warning|warn|error|fatal|critical)[\]>)]?:?[ \t]+"
)
_KLOG_LEVEL = {"I": "INFO", "W": "WARN", "E": "ERROR", "F": "FATAL"}


def _naive(dt: datetime, tz: tzinfo) -> float:
    return dt.replace(tzinfo=tz).timestamp()


def leading_ts(line: str, tz: tzinfo = UTC, year: int | None = None) -> tuple[float, str, str]:
    """(epoch seconds or 0.0, klog level or "", rest of the line after the timestamp)."""
    m = _TS.match(line)
    if m is None:
        # e.g. OpenStack: "<file name> 2017-05-16 00:00:00.008 25746 INFO …": an ISO stamp near the start
        found = _ISO_NEAR.search(line, 0, 100)
        if found is None:
            return 0.0, "", line
        return parse_ts(found.group(1), tz) or 0.0, "", line[found.end() :].lstrip()
    rest = line[m.end() :]
    group = m.lastgroup
    assert group is not None  # every alternative of _TS is a named group
    text = m.group(group)
    year = year or datetime.now(tz).year
    try:
        if group == "iso":
            return parse_ts(text, tz) or 0.0, "", rest
        if group == "slash":
            return parse_ts(text.replace("/", "-"), tz) or 0.0, "", rest
        if group == "yy":
            return _naive(datetime.strptime(text, "%y/%m/%d %H:%M:%S"), tz), "", rest
        if group == "hdfs":
            return _naive(datetime.strptime(text, "%y%m%d %H%M%S"), tz), "", rest
        if group == "ctime":
            return _naive(datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y"), tz), "", rest
        if group == "syslog":
            mon, day, hms = text.split()
            h, mi, s = (int(x) for x in hms.split(":"))
            return _naive(datetime(year, _MONTHS[mon], int(day), h, mi, s), tz), "", rest
        if group == "klog":
            md, hms = text[1:].split(" ")
            whole, _, frac = hms.partition(".")
            h, mi, s = (int(x) for x in whole.split(":"))
            dt = datetime(year, int(md[:2]), int(md[2:]), h, mi, s)
            # klog: "<pid> <file:line>] msg" follows
            _, sep, after = rest.partition("] ")
            return _naive(dt, tz) + int(frac) / 10 ** len(frac), _KLOG_LEVEL[text[0]], after if sep else rest
        return parse_ts(text, tz) or 0.0, "", rest  # epoch
    except ValueError:
        return 0.0, "", line


def split_plain(line: str, tz: tzinfo = UTC, year: int | None = None) -> tuple[float, str, str]:
    """(ts, level, message) of a plain line; message has the timestamp and a leading level word removed."""
    ts, level, rest = leading_ts(line, tz, year)
    if ts and not level:
        cri = _CRI.match(rest)
        if cri is not None:
            rest = rest[cri.end() :]
    if not level:
        lm = _LEAD_LEVEL.match(rest)
        if lm is not None:
            level = level_in_text(lm.group(1))
            rest = rest[lm.end() :]
        else:
            level = level_in_text(rest)
    return ts, level, rest.strip() or line.strip()


def parse_plain(
    line: str, kind: LogKind = LogKind.BUSINESS, tz: tzinfo = UTC, year: int | None = None
) -> LogRecord:
    ts, level, message = split_plain(line, tz, year)
    return LogRecord(ts=ts, kind=kind, level=level, message=message, raw=line)
