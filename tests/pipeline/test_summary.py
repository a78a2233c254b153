"""The spoken summary from the day's incidents: rank order, causes, ≤ 45 s, numbering without gaps."""

from __future__ import annotations

import re

from agents.analyst.deterministic import FOLLOW_UP, DeterministicAnalyst, speech_seconds
from agents.report import DayIncident, DayReport

NUM = "一二三四五六七八九十"


def _inc(rank: int, w: str, short: str, terse: str = "", found: bool = True, **kw: object) -> DayIncident:
    return DayIncident(rank=rank, namespace="billing", workload=w, severity="high", impact=100 - rank,
                       cause="config_change", short_zh=short, terse_zh=terse or short, found=found, **kw)  # type: ignore[arg-type]  # fmt: skip


def _summary(incs: list[DayIncident]) -> str:
    report = DayReport(owner="ops", day="2026-03-10", generated_at=0.0, incidents=incs)
    return DeterministicAnalyst().summary(report)[0]


def test_few_incidents_are_spoken_with_actor_and_cause_in_rank_order() -> None:
    s = _summary([
        _inc(1, "invoice-svc", "ci-bot 服务账号 改了配置 runtime-settings，解析出错", "改了配置 runtime-settings，解析出错"),
        _inc(2, "ledger-writer", "依赖 session-redis 连接被拒", affected=["cart-api"]),
        _inc(3, "pdf-render", "", found=False),
    ])  # fmt: skip
    assert s.index("一、invoice-svc") < s.index("二、ledger-writer 等 2 个服务") < s.index("三、pdf-render")
    assert "ci-bot 服务账号" in s and "runtime-settings" in s and "session-redis" in s
    assert "原因还没查明" in s and s.endswith(FOLLOW_UP) and speech_seconds(s) <= 45


def test_a_crowded_day_stays_under_45_seconds_and_numbers_without_gaps() -> None:
    incs = [
        _inc(i + 1, f"service-number-{i}-long-name", f"kate.morris 把镜像改成 release-{i}00，拉取失败")
        for i in range(12)
    ]
    s = _summary(incs)
    assert speech_seconds(s) <= 45 and len(s) <= 220
    labels = re.findall(f"[{NUM}]、", s)
    assert labels == [f"{NUM[n]}、" for n in range(len(labels))] and len(labels) >= 2
    assert f"另有 {12 - len(labels)} 个问题" in s  # what was left out is said, and is in the report
    assert "service-number-0-long-name" in s  # the top-ranked incident is never the one dropped
    assert "发现 12 个问题" in s


def test_terse_forms_are_used_before_anything_is_dropped() -> None:
    incs = [_inc(i + 1, f"svc-{i}", f"system-admin-account-{i} 改了配置 cfg-{i}，解析出错", f"改了配置 cfg-{i}，解析出错")
            for i in range(5)]  # fmt: skip
    s = _summary(incs)
    assert all(f"cfg-{i}" in s for i in range(5)) and "另有" not in s
