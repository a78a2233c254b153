"""CLS→COS key templates: hourly partitions in the owner's zone, non-padded forms, partition-less prefixes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from agents.records import LogKind
from agents.sources.base import KeyTemplate, ObjectRef, SourceConfig, name_time, render_pattern, resolve_day

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2024, 6, 1)


def test_hourly_prefixes_follow_the_owner_zone() -> None:
    prefixes = KeyTemplate("cls/business").day_prefixes(DAY, SHANGHAI)
    assert len(prefixes) == 24
    assert prefixes[0] == "cls/business/2024/06/01/00/" and prefixes[-1] == "cls/business/2024/06/01/23/"


def test_dst_days_have_23_or_25_hours() -> None:
    ny = ZoneInfo("America/New_York")
    assert len(KeyTemplate("p").day_prefixes(date(2024, 3, 10), ny)) == 23
    # 25 hours on the fall-back day, but 01h renders twice: distinct prefixes only
    assert len(KeyTemplate("p", "{prefix}/%Y%m%d/%H/").day_prefixes(date(2024, 11, 3), ny)) == 24


def test_daily_templates_are_listed_once_and_non_padded_forms_render() -> None:
    assert KeyTemplate("logs", "{prefix}/%Y/%-m/%-d/").day_prefixes(DAY, UTC) == ["logs/2024/6/1/"]
    assert render_pattern("%Y%m%d/%H%%", datetime(2024, 6, 1, 7)) == "20240601/07%"
    assert KeyTemplate("/a/b/", "{prefix}/%Y/").list_root == "a/b/"
    assert not KeyTemplate("a", "{prefix}/").partitioned


def refs(*keys: str, modified: float = 0.0) -> dict[str, ObjectRef]:
    return {k: ObjectRef(k, LogKind.BUSINESS, last_modified=modified) for k in keys}


def lister_over(objects: dict[str, ObjectRef]):
    calls: list[str] = []

    def lister(prefix: str):
        calls.append(prefix)
        return [o for k, o in sorted(objects.items()) if k.startswith(prefix)]

    return lister, calls


def test_resolve_day_prefers_partitions_then_unpadded_then_a_filtered_scan() -> None:
    config = SourceConfig(timezone="UTC")
    padded = refs("b/2024/06/01/03/202406010305_x.gz", "b/2024/06/02/00/202406020005_y.gz")
    lister, calls = lister_over(padded)
    got = resolve_day(lister, KeyTemplate("b"), DAY, UTC, config)
    assert [r.key for r in got] == ["b/2024/06/01/03/202406010305_x.gz"] and len(calls) == 24

    unpadded = refs("b/2024/6/1/3/202406010305_x.gz", "b/2024/6/10/3/202406100305_z.gz")
    lister, _ = lister_over(unpadded)
    assert [r.key for r in resolve_day(lister, KeyTemplate("b"), DAY, UTC, config)] == [
        "b/2024/6/1/3/202406010305_x.gz"
    ]

    flat = refs("b/202406010305_x.gz", "b/202405312359_w.gz", "b/202406020000_v.gz", "b/no-time.log")
    flat.update(refs("b/undated.log", modified=datetime(2024, 6, 1, 8, tzinfo=UTC).timestamp()))
    lister, calls = lister_over(flat)
    got = resolve_day(lister, KeyTemplate("b", "{prefix}/"), DAY, UTC, config)
    assert [r.key for r in got] == ["b/202406010305_x.gz", "b/undated.log"] and calls == ["b/"]


def test_the_scan_fallback_can_be_disabled_and_is_zone_aware() -> None:
    flat = refs("b/202405311700_x.gz")  # names are read in the owner's zone: 17:00 on May 31st in Shanghai
    lister, _ = lister_over(flat)
    assert resolve_day(lister, KeyTemplate("b", "{prefix}/"), DAY, SHANGHAI, SourceConfig()) == []
    assert (
        name_time("b/202405311700_x.gz", SHANGHAI) == datetime(2024, 5, 31, 17, tzinfo=SHANGHAI).timestamp()
    )
    config = SourceConfig(fallback_scan=False)
    lister, calls = lister_over(refs("b/202406010305_x.gz"))
    assert resolve_day(lister, KeyTemplate("b"), DAY, UTC, config) == [] and "b/" not in calls
