"""LocalSource: the simple day/kind layout and the CLS→COS mirror layout, read the same way."""

from __future__ import annotations

import gzip
import io
import json
import random
from datetime import date
from pathlib import Path

import pytest

from agents.parsers import ParseStats
from agents.records import LogKind
from agents.sources import (
    LocalSource,
    ObjectRef,
    SourceConfig,
    SourceError,
    cos_mirror_dir,
    simple_dir,
    text_lines,
)

DAY = date(2024, 6, 1)


def ndjson(n: int, start: int = 0, hour: int = 4) -> str:
    return "".join(
        json.dumps({"time": f"2024-06-01T{hour:02d}:00:{i % 60:02d}Z", "level": "info", "msg": f"m{i}"})
        + "\n"
        for i in range(start, start + n)
    )


def event(name: str, ts: str) -> str:
    return json.dumps(
        {
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": name},
            "reason": "BackOff",
            "message": "Back-off restarting failed container",
            "type": "Warning",
            "lastTimestamp": ts,
        }
    )


def test_simple_layout_reads_plain_and_gzip_files_in_order(tmp_path: Path) -> None:
    folder = simple_dir(tmp_path, "alice", DAY, LogKind.BUSINESS)
    (folder / "05").mkdir(parents=True)
    (folder / "a.ndjson").write_text(ndjson(3))
    (folder / "05" / "b.log").write_bytes(gzip.compress(ndjson(2, 3).encode()))  # gzip despite the name
    (folder / "c.gz").write_bytes(gzip.compress(ndjson(1, 5).encode()))
    (folder / "notes.md").write_text("not a log")
    src = LocalSource(tmp_path, "alice")
    refs = src.list_objects("business", DAY)
    assert [r.key for r in refs] == [
        "2024-06-01/business/05/b.log",
        "2024-06-01/business/a.ndjson",
        "2024-06-01/business/c.gz",
    ]
    stats = ParseStats()
    messages = [r.message for r in src.iter_records(LogKind.BUSINESS, "2024-06-01", stats)]
    assert messages == ["m3", "m4", "m0", "m1", "m2", "m5"]
    assert stats.records == 6 and stats.errors == []


def test_cls_mirror_layout_uses_the_owner_zone(tmp_path: Path) -> None:
    mirror = cos_mirror_dir(tmp_path, "alice")
    inside = mirror / "k8s-event/2024/06/01/00"  # 00h Shanghai = 16h UTC the day before
    outside = mirror / "k8s-event/2024/06/02/00"
    inside.mkdir(parents=True)
    outside.mkdir(parents=True)
    (inside / "202406010005_a.gz").write_bytes(
        gzip.compress((event("web-0", "2024-05-31T16:01:00Z") + "\n").encode())
    )
    (outside / "202406020005_b.gz").write_bytes(
        gzip.compress((event("web-1", "2024-06-01T16:01:00Z") + "\n").encode())
    )
    src = LocalSource(tmp_path, "alice", SourceConfig(timezone="Asia/Shanghai"))
    assert [r.key for r in src.list_objects("event", DAY)] == [
        "cos/k8s-event/2024/06/01/00/202406010005_a.gz"
    ]
    recs = list(src.iter_records("event", DAY))
    assert [(r.pod, r.level) for r in recs] == [("web-0", "WARN")]


def test_both_layouts_give_the_same_records(tmp_path: Path) -> None:
    body = ndjson(10)
    folder = simple_dir(tmp_path, "a", DAY, LogKind.BUSINESS)
    folder.mkdir(parents=True)
    (folder / "app.log").write_text(body)
    part = cos_mirror_dir(tmp_path, "b") / "business/2024/06/01/04"
    part.mkdir(parents=True)
    (part / "202406010410_x.gz").write_bytes(gzip.compress(body.encode()))
    cfg = SourceConfig(timezone="UTC")
    simple = [(r.ts, r.message) for r in LocalSource(tmp_path, "a", cfg).iter_records("business", DAY)]
    mirrored = [(r.ts, r.message) for r in LocalSource(tmp_path, "b", cfg).iter_records("business", DAY)]
    assert simple == mirrored and len(simple) == 10


def test_empty_or_unknown_days_are_empty_not_errors(tmp_path: Path) -> None:
    assert LocalSource(tmp_path, "nobody").list_objects("audit", DAY) == []
    simple_dir(tmp_path, "alice", DAY, LogKind.AUDIT).mkdir(parents=True)
    src = LocalSource(tmp_path, "alice")
    assert src.list_objects("audit", DAY) == [] and list(src.iter_records("audit", DAY)) == []


def test_truncated_gzip_keeps_records_before_the_damage(tmp_path: Path) -> None:
    folder = simple_dir(tmp_path, "alice", DAY, LogKind.BUSINESS)
    folder.mkdir(parents=True)
    data = gzip.compress(ndjson(2000).encode())
    (folder / "x.gz").write_bytes(data[: len(data) // 2])
    (folder / "y.log").write_text(ndjson(1, 9000))
    stats = ParseStats()
    recs = list(LocalSource(tmp_path, "alice").iter_records("business", DAY, stats))
    assert 500 < len(recs) < 2001 and recs[-1].message == "m9000"  # the next file is still read
    assert len(stats.errors) == 1 and "x.gz" in stats.errors[0] and "truncated" in stats.errors[0]
    assert [r.message for r in recs[:3]] == ["m0", "m1", "m2"]


def test_missing_files_and_bad_owner_names_raise_clear_errors(tmp_path: Path) -> None:
    src = LocalSource(tmp_path, "alice")
    with pytest.raises(SourceError) as err:
        src.open_lines(ObjectRef("2024-06-01/business/gone.log", LogKind.BUSINESS))
    assert err.value.code == "NoSuchKey"
    with pytest.raises(SourceError):
        src.open_lines(ObjectRef("../../etc/passwd", LogKind.BUSINESS))
    with pytest.raises(SourceError):
        LocalSource(tmp_path, "../bob")


class CountingStream(io.RawIOBase):
    """A stream that records how many bytes were pulled from it."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)
        self.pulled = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        chunk = self.data.read(len(buf))
        buf[: len(chunk)] = chunk
        self.pulled += len(chunk)
        return len(chunk)


def test_lines_stream_without_loading_the_object() -> None:
    rng = random.Random(3)
    body = "".join(f'{{"msg": "m{i}", "id": "{rng.getrandbits(96):024x}"}}\n' for i in range(100_000))
    raw = gzip.compress(body.encode(), compresslevel=1)
    stream = CountingStream(raw)
    lines = text_lines(stream, "big.gz")
    assert json.loads(next(lines))["msg"] == "m0"
    assert stream.pulled < len(raw) / 4  # only the first chunks were read
    assert sum(1 for _ in lines) == 99_999


def test_text_lines_handles_bom_crlf_and_invalid_utf8() -> None:
    data = "\ufeffline one\r\nline two\n".encode() + b"bad \xff byte\n" + b"no newline at end"
    lines = list(text_lines(io.BytesIO(data), "x"))
    assert lines == ["line one\r", "line two", "bad \ufffd byte", "no newline at end"]
