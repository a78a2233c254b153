"""Business log parsing: NDJSON field aliases, docker json-file, CLS-shipped JSON, plain text (incl. Loghub)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agents.parsers import business_from_obj, normalize_level, parse_line, parse_ts, workload_from_pod
from agents.parsers.plain import split_plain
from agents.records import LogKind
from tests.paths import DATASETS

T0 = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC).timestamp()
SHANGHAI = ZoneInfo("Asia/Shanghai")


def one(line: str, tz=UTC):
    got = parse_line(LogKind.BUSINESS, line, tz)
    assert got is not None and len(got) == 1
    return got[0]


@pytest.mark.parametrize(
    "time_field",
    [
        {"time": "2024-06-01T12:00:00Z"},
        {"ts": 1717243200},
        {"ts": 1717243200000},
        {"timestamp": "1717243200000"},
        {"@timestamp": "2024-06-01T20:00:00+08:00"},
        {"time": "2024-06-01T12:00:00.000000000Z"},
        {"timestamp": 1717243200.0},
    ],
)
def test_timestamp_spellings_agree(time_field: dict) -> None:
    rec = one(json.dumps({**time_field, "msg": "x"}))
    assert rec.ts == pytest.approx(T0)


def test_naive_timestamps_are_read_in_the_owner_zone() -> None:
    rec = one(json.dumps({"time": "2024-06-01 20:00:00,250", "msg": "x"}), tz=SHANGHAI)
    assert rec.ts == pytest.approx(T0 + 0.25)


def test_common_fields_and_extras_are_kept() -> None:
    line = json.dumps(
        {
            "time": "2024-06-01T12:00:00Z",
            "severity": "warning",
            "message": "slow query",
            "namespace": "shop",
            "app": "order-api",
            "pod": "order-api-7d9f8c6b5-x2x9k",
            "traceId": "abc123",
            "user_id": "u42",
            "latency_ms": 812,
        }
    )
    rec = one(line)
    assert (rec.level, rec.message, rec.namespace, rec.workload, rec.pod, rec.user) == (
        "WARN",
        "slow query",
        "shop",
        "order-api",
        "order-api-7d9f8c6b5-x2x9k",
        "u42",
    )
    assert rec.fields == {"latency_ms": 812, "trace_id": "abc123"}
    assert rec.raw == line and rec.kind is LogKind.BUSINESS


def test_workload_is_derived_from_the_pod_when_missing() -> None:
    rec = one(json.dumps({"lvl": "ERROR", "log": "boom", "pod_name": "pay-5f7b9c8d4-q2w4z"}))
    assert (rec.level, rec.message, rec.workload) == ("ERROR", "boom", "pay")


def test_nested_fluent_bit_and_ecs_shapes() -> None:
    rec = one(
        json.dumps(
            {
                "@timestamp": "2024-06-01T12:00:00Z",
                "log": {"level": "error"},
                "message": "payment declined",
                "kubernetes": {
                    "namespace_name": "pay",
                    "pod_name": "gateway-0",
                    "labels": {"app": "gateway"},
                },
            }
        )
    )
    assert (rec.level, rec.namespace, rec.pod, rec.workload) == ("ERROR", "pay", "gateway-0", "gateway")


def test_missing_level_is_detected_in_the_message() -> None:
    assert one(json.dumps({"msg": "ERROR connection refused"})).level == "ERROR"
    assert one(json.dumps({"msg": "all good"})).level == "INFO"


def test_docker_json_file_lines() -> None:
    plain = one(
        json.dumps(
            {
                "log": "2024-06-01 12:00:01,500 WARN [main] c.x.Db - pool exhausted\n",
                "stream": "stderr",
                "time": "2024-06-01T12:00:09.13487728Z",
            }
        )
    )
    assert plain.level == "WARN" and plain.message == "[main] c.x.Db - pool exhausted"
    assert plain.ts == pytest.approx(T0 + 1.5) and plain.fields["stream"] == "stderr"
    nested = one(
        json.dumps(
            {
                "log": json.dumps({"level": "error", "msg": "db timeout"}) + "\n",
                "stream": "stdout",
                "time": "2024-06-01T12:00:00.5Z",
            }
        )
    )
    assert (nested.level, nested.message, nested.ts) == ("ERROR", "db timeout", pytest.approx(T0 + 0.5))


def test_cls_shipped_json_with_tiled_tags() -> None:
    rec = one(
        json.dumps(
            {
                "__TIMESTAMP__": "1717243200123",
                "__SOURCE__": "10.0.0.5",
                "__FILENAME__": "/var/log/app.log",
                "__HOSTNAME__": "node-1",
                "__TAG__.pod_name": "api-7d9f8c6b5-x2x9k",
                "__TAG__.namespace": "prod",
                "__TAG__.container_name": "api",
                "level": "ERROR",
                "msg": "db timeout",
            }
        )
    )
    assert rec.ts == pytest.approx(T0 + 0.123)
    assert (rec.level, rec.message, rec.namespace, rec.pod, rec.workload) == (
        "ERROR",
        "db timeout",
        "prod",
        "api-7d9f8c6b5-x2x9k",
        "api",
    )
    assert rec.fields == {
        "container": "api",
        "host": "node-1",
        "file": "/var/log/app.log",
        "source_ip": "10.0.0.5",
    }


def test_cls_nested_tags_seconds_timestamp_and_full_text_content() -> None:
    rec = one(
        json.dumps(
            {
                "__TIMESTAMP__": 1717243200,
                "__TAG__": {"pod_name": "web-0", "namespace": "shop"},
                "__CONTENT__": "2024-06-01 12:00:05 ERROR upstream reset",
            }
        )
    )
    # the line's own time wins over the delivery time; the tags fill what the line lacks
    assert rec.ts == pytest.approx(T0 + 5)
    assert (rec.level, rec.message, rec.pod, rec.workload, rec.namespace) == (
        "ERROR",
        "upstream reset",
        "web-0",
        "web",
        "shop",
    )
    embedded = one(
        json.dumps({"__TIMESTAMP__": "1717243200000", "__CONTENT__": '{"level":"warn","msg":"retrying"}'})
    )
    assert (embedded.level, embedded.message, embedded.ts) == ("WARN", "retrying", pytest.approx(T0))


@pytest.mark.parametrize(
    ("line", "ts", "level", "message"),
    [
        ("2024-06-01T12:00:00.250Z ERROR something broke", T0 + 0.25, "ERROR", "something broke"),
        ("[2024-06-01 12:00:00] [warn] disk 91%", T0, "WARN", "disk 91%"),
        ("2024/06/01 12:00:00 INFO started", T0, "INFO", "started"),
        (
            "E0601 12:00:00.500000       1 reflector.go:138] failed to list",
            T0 + 0.5,
            "ERROR",
            "failed to list",
        ),
        ("2024-06-01T12:00:00.000000001Z stderr F panic: nil map", T0, "FATAL", "panic: nil map"),
        (
            "Jun  1 12:00:00 node-1 sshd[42]: Accepted publickey",
            T0,
            "INFO",
            "node-1 sshd[42]: Accepted publickey",
        ),
        ("just some words", 0.0, "INFO", "just some words"),
    ],
)
def test_plain_lines(line: str, ts: float, level: str, message: str) -> None:
    got_ts, got_level, got_message = split_plain(line, UTC, year=2024)
    assert (got_ts, got_level, got_message) == (pytest.approx(ts), level, message)


LOGHUB_LEVELS = {"notice": "INFO", "warning": "WARN"}


@pytest.mark.parametrize("name", ["HDFS", "Hadoop", "OpenStack", "Zookeeper", "Apache"])
def test_loghub_levels_and_timestamps_match_the_labelled_csv(name: str) -> None:
    folder = DATASETS / "loghub2k" / name
    lines = (folder / f"{name}_2k.log").read_text(encoding="utf-8").splitlines()
    with open(folder / f"{name}_2k.log_structured_corrected.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(lines) == len(rows) == 2000
    for line, row in zip(lines, rows, strict=True):
        ts, level, _ = split_plain(line, UTC)
        expected = LOGHUB_LEVELS.get(row["Level"].lower(), row["Level"].upper())
        assert level == expected, line
        assert ts > 0, line


def test_level_normalisation() -> None:
    assert [normalize_level(v) for v in ("Warning", "ERR", "crit", "trace", 50, 30, 60, "weird")] == [
        "WARN",
        "ERROR",
        "FATAL",
        "DEBUG",
        "ERROR",
        "INFO",
        "FATAL",
        "INFO",
    ]


@pytest.mark.parametrize(
    ("pod", "workload"),
    [
        ("order-api-7d9f8c6b5-x2x9k", "order-api"),
        ("redis-747ffc844f-f9ghd", "redis"),
        ("web-0", "web"),
        ("mysql-primary-12", "mysql-primary"),
        ("node-exporter-x2x9k", "node-exporter"),
        ("nightly-report-28734120-q2w4z", "nightly-report"),
        ("standalone", "standalone"),
        ("api-server", "api-server"),
    ],
)
def test_workload_from_pod(pod: str, workload: str) -> None:
    assert workload_from_pod(pod) == workload


def test_parse_ts_rejects_garbage() -> None:
    assert parse_ts("not a time") is None
    assert parse_ts(None) is None
    assert parse_ts(True) is None
    assert parse_ts({"a": 1}) is None
    assert parse_ts(" 2024-06-01 12:00:00 +08:00 ") == pytest.approx(T0 - 8 * 3600)


def test_objects_with_odd_value_types_do_not_break_the_parser() -> None:
    rec = business_from_obj(
        {"time": ["x"], "level": {"a": 1}, "msg": 42, "pod": None, "user": {"name": "x"}}, raw="{...}"
    )
    assert rec.level == "INFO" and rec.message == "42" and rec.ts == 0.0
