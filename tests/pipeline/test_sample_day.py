"""The sample-day generator: layouts, formats, seeds, ground truth."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from agents.parsers import parse_stream
from agents.sample_day import INCIDENT_TYPES, generate_day, load_ground_truth

DAY = "2026-03-10"


def test_layouts_and_line_formats(tmp_path: Path) -> None:
    res = generate_day(tmp_path, DAY, lines=12_000, seed=3, cos=True)
    gt = res.ground_truth
    assert abs(gt["generated_lines"] - 12_000) < 12_000 * 0.1
    assert [i["type"] for i in gt["incidents"]] == list(INCIDENT_TYPES)
    assert load_ground_truth(res.ground_truth_path) == gt
    local = sorted((tmp_path / "default" / DAY).rglob("*.ndjson"))
    assert len(local) == 72  # 24 hourly files per kind
    keys = sorted(p.relative_to(res.cos_dir).as_posix() for p in res.cos_dir.rglob("*.gz"))
    pattern = re.compile(r"^(business|k8s-event|k8s-audit)/2026/03/(09|10)/\d\d/2026\d{8}_\d{3}_\d+\.gz$")
    assert keys and all(pattern.match(k) for k in keys), keys[:3]
    business = next(k for k in keys if k.startswith("business/"))
    first = json.loads(gzip.decompress((res.cos_dir / business).read_bytes()).decode().splitlines()[0])
    assert isinstance(first["__TIMESTAMP__"], int) and first["__TIMESTAMP__"] > 1e12  # milliseconds
    assert first["__TAG__.pod_name"] and first["msg"]
    event = next(k for k in keys if k.startswith("k8s-event/"))
    ev = json.loads(gzip.decompress((res.cos_dir / event).read_bytes()).decode().splitlines()[0])
    assert isinstance(ev["__TAG__"], dict) and ev["kind"] == "Event"
    # the exact event reason strings real clusters use
    text = "".join(p.read_text(encoding="utf-8") for p in local if "/event/" in p.as_posix())
    for needle in ['"reason":"BackOff","message":"Back-off pulling image', '"message":"Error: ErrImagePull"',
                   '"message":"Error: ImagePullBackOff"', "Back-off restarting failed container",
                   '"reason":"OOMKilling"', "5 Insufficient memory", "pod has unbound immediate PersistentVolumeClaims",
                   '"reason":"ProvisioningFailed"', '"reason":"FailedMount"', '"reason":"FailedGetResourceMetric"',
                   '"reason":"FailedComputeMetricsReplicas"', '"apiVersion":"events.k8s.io/v1"']:  # fmt: skip
        assert needle in text, needle


def test_records_parse_cleanly(tmp_path: Path) -> None:
    res = generate_day(tmp_path, DAY, lines=5_000, seed=1, malformed=0)
    for kind in ("business", "event", "audit"):
        files = sorted((res.local_dir / kind).iterdir())
        stream = parse_stream(kind, (line for f in files for line in f.open(encoding="utf-8")))
        recs = list(stream)
        assert stream.stats.bad == 0 and len(recs) == res.ground_truth["lines"][kind]
        assert all(r.ts for r in recs)


@pytest.mark.parametrize("seeds", [(1, 2)])
def test_seeds_change_times_names_and_services(tmp_path: Path, seeds: tuple[int, int]) -> None:
    a = generate_day(tmp_path / "a", DAY, lines=3_000, seed=seeds[0]).ground_truth["incidents"]
    b = generate_day(tmp_path / "b", DAY, lines=3_000, seed=seeds[1]).ground_truth["incidents"]
    again = generate_day(tmp_path / "c", DAY, lines=3_000, seed=seeds[0]).ground_truth["incidents"]
    assert a == again  # reproducible
    assert [(i["workload"], i["user"], i["start"]) for i in a] != [
        (i["workload"], i["user"], i["start"]) for i in b
    ]


def test_too_small_days_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_day(tmp_path, DAY, lines=10)
