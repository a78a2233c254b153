"""Deterministic spoken answers built from a day's findings (used without an LLM, and as the LLM's fallback).

Pure functions: findings dict in, speakable Chinese sentences out. Each answer is evidence-based (counts,
names, times from the findings), bounded to about 45 s of speech, and ends with a next-step question.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

CHARS_PER_SECOND = 4.5  # measured pace of Mandarin TTS, used to bound answers
MAX_ANSWER_SECONDS = 45
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
KIND_NAMES = {
    "business": "业务日志",
    "event": "事件日志",
    "audit": "审计日志",
    "correlate": "三类日志的关联分析",
}
NEXT_STEP = {
    "business": "需要我再看看事件日志，或者关联分析三类日志找出根源吗？",
    "event": "需要我再看看审计日志里是谁做了变更，或者关联分析三类日志吗？",
    "audit": "需要我关联分析三类日志，看看这些操作和故障有没有关系吗？",
    "correlate": "需要我给出处理建议，或者查看最近的告警吗？",
}


def day_cn(day: str) -> str:
    """ISO date → how it is said: "11月21日"."""
    d = date.fromisoformat(day)
    return f"{d.month}月{d.day}日"


def _local_time(ts: float, tz: str) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%H点%M分")


def _clean(text: str, limit: int = 120) -> str:
    # Finding text comes from logs: keep it to one printable line of bounded length.
    text = "".join(ch for ch in str(text) if ch.isprintable()).strip()
    return text[:limit]


def ranked(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        findings, key=lambda f: (SEVERITY_RANK.get(f.get("severity", "info"), 5), -int(f.get("count") or 0))
    )


def _fits(sentences: list[str], extra: str) -> bool:
    total = sum(len(s) for s in sentences) + len(extra)
    return total <= MAX_ANSWER_SECONDS * CHARS_PER_SECOND


def drill_down(report: dict[str, Any] | None, kind: str, day: str, tz: str) -> list[str]:
    """Sentences answering "深入分析<kind>日志" for one day."""
    name = KIND_NAMES.get(kind, "日志")
    iso, day = day, day_cn(day)
    if not report:
        return [f"{day}还没有日志分析报告，暂时无法分析{name}。", "需要我现在开始分析吗？"]
    findings = report.get("findings") or []
    if kind == "correlate":
        return correlate(report, iso, tz)
    mine = ranked(f for f in findings if f.get("kind") == kind)
    stats = (report.get("stats") or {}).get(kind) or {}
    sentences: list[str] = []
    if stats.get("error"):
        sentences.append(f"{day}的{name}没有分析成功，原因是：{_clean(stats['error'], 60)}。")
    lines = int(stats.get("lines") or 0)
    if not mine:
        head = f"{day}的{name}共{lines}条，" if lines else f"{day}的{name}"
        sentences.append(head + "没有发现明显异常。")
        sentences.append(NEXT_STEP[kind])
        return sentences
    levels = stats.get("levels") or {}
    errors = int(levels.get("ERROR", 0)) + int(levels.get("FATAL", 0))
    warns = int(levels.get("WARN", 0))
    if lines:
        sentences.append(
            f"{day}的{name}共{lines}条，其中错误{errors}条，警告{warns}条，发现{len(mine)}个值得关注的问题。"
        )
    else:
        sentences.append(f"{day}的{name}发现{len(mine)}个值得关注的问题。")
    for i, f in enumerate(mine[:4], 1):
        when = _local_time(f.get("first_ts") or 0, tz)
        text = _clean(f.get("summary_zh") or f.get("title") or "")
        sentence = f"第{i}，{text}" + (f"，最早出现在{when}" if when else "") + "。"
        if not _fits(sentences, sentence + NEXT_STEP[kind]):
            break
        sentences.append(sentence)
    sentences.append(NEXT_STEP[kind])
    return sentences


def correlate(report: dict[str, Any], day: str, tz: str) -> list[str]:
    """Chains business errors → k8s events → audit changes, strongest first."""
    day = day_cn(day)
    findings = report.get("findings") or []
    chains = ranked(f for f in findings if f.get("category") == "change_before_errors")
    sentences: list[str] = []
    if chains:
        sentences.append(f"关联{day}的三类日志，发现{len(chains)}条因果链。")
        for f in chains[:3]:
            text = _clean(f.get("summary_zh") or f.get("title") or "", 160)
            sentence = text if text.endswith("。") else text + "。"
            if not _fits(sentences, sentence + NEXT_STEP["correlate"]):
                break
            sentences.append(sentence)
    else:
        top = ranked(findings)[:3]
        if not top:
            return [f"{day}的三类日志都没有发现明显异常。", NEXT_STEP["correlate"]]
        sentences.append(f"关联{day}的三类日志，没有找到明确的变更导致故障的因果链，最值得关注的是：")
        for f in top:
            text = _clean(f.get("summary_zh") or f.get("title") or "")
            sentences.append(text if text.endswith("。") else text + "。")
    sentences.append(NEXT_STEP["correlate"])
    return sentences
