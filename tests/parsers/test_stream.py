"""parse_stream bookkeeping: bad lines counted and sampled, missing times filled, source failures kept."""

from __future__ import annotations

import json
from collections.abc import Iterator

from agents.parsers import ParseStats, parse_stream
from agents.parsers.stream import SAMPLE_CHARS
from agents.records import LogKind


def good(i: int) -> str:
    return json.dumps({"ts": 1717243200 + i, "level": "info", "msg": f"line {i}"}) + "\n"


def test_invalid_json_is_counted_sampled_and_kept_as_text_for_business_logs() -> None:
    long_bad = '{"msg": "' + "x" * 1000  # truncated JSON line
    lines = [good(0), long_bad + "\n", "\n", "   \n", good(1), '{"a": }\n']
    stream = parse_stream(LogKind.BUSINESS, lines, source="app.log")
    recs = list(stream)
    stats = stream.stats
    assert (stats.lines, stats.records, stats.blank, stats.bad) == (6, 4, 2, 2)
    assert [s.line_no for s in stats.samples] == [2, 6]
    assert all(s.source == "app.log" for s in stats.samples)
    assert len(stats.samples[0].sample) <= SAMPLE_CHARS and stats.samples[0].reason.startswith("invalid JSON")
    # nothing lost: the broken line survives as a text record with the previous record's time
    assert recs[1].raw == long_bad and recs[1].ts == 1717243200


def test_samples_are_capped_but_every_bad_line_is_counted() -> None:
    stats = ParseStats(max_samples=3)
    list(parse_stream(LogKind.AUDIT, ["{bad"] * 50, stats=stats))
    assert stats.bad == 50 and len(stats.samples) == 3


def test_missing_times_use_the_previous_record_or_the_default() -> None:
    lines = ['{"msg": "first"}', good(5), '{"msg": "after"}']
    stream = parse_stream(LogKind.BUSINESS, lines, default_ts=1717200000.0)
    assert [r.ts for r in stream] == [1717200000.0, 1717243205, 1717243205]
    assert stream.stats.no_ts == 2


def test_a_failing_line_source_keeps_earlier_records_and_reports() -> None:
    def lines() -> Iterator[str]:
        yield good(0)
        yield good(1)
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")

    stream = parse_stream(LogKind.BUSINESS, lines(), source="x.gz")
    recs = list(stream)
    assert len(recs) == 2
    assert stream.stats.errors == [
        "x.gz: EOFError: Compressed file ended before the end-of-stream marker was reached (after line 2)"
    ]


def test_weird_json_values_never_raise() -> None:
    lines = [
        "null",
        "42",
        '"str"',
        "[]",
        '{"items": "nope"}',
        '{"time": [1], "level": {}, "msg": null}',
        "[1, {}]",
    ]
    for kind in LogKind:
        stream = parse_stream(kind, lines)
        list(stream)
        assert stream.stats.lines == len(lines)


def test_crlf_and_stats_merge() -> None:
    a = parse_stream(LogKind.BUSINESS, [good(0).replace("\n", "\r\n")])
    recs = list(a)
    assert recs[0].raw.endswith("}")
    total = ParseStats()
    total.merge(a.stats)
    total.merge(a.stats)
    assert total.records == 2 and total.as_dict()["lines"] == 2
