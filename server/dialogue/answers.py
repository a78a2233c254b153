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


_END_PUNCT = "。．.！!？?；;，,、 "


def _clause(text: str, limit: int = 120) -> str:
    """A finding's sentence as a clause: cleaned, without its final punctuation (we add our own)."""
    return _clean(text, limit).rstrip(_END_PUNCT)


def _sentence(text: str, limit: int = 160) -> str:
    clause = _clause(text, limit)
    return clause + "。" if clause else ""


def ranked(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        findings, key=lambda f: (SEVERITY_RANK.get(f.get("severity", "info"), 5), -int(f.get("count") or 0))
    )


def _fits(sentences: list[str], extra: str) -> bool:
    total = sum(len(s) for s in sentences) + len(extra)
    return total <= MAX_ANSWER_SECONDS * CHARS_PER_SECOND


def drill_down(
    report: dict[str, Any] | None,
    kind: str,
    day: str,
    tz: str,
    evidence: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Sentences answering "深入分析<kind>日志" for one day.

    ``evidence``: optional hits from the log index / the day's templates (see ``template_evidence``);
    the strongest one is quoted after the findings when it fits the time budget."""
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
        sentences.append(f"{day}的{name}没有分析成功，原因是：{_clause(stats['error'], 60)}。")
    lines = int(stats.get("lines") or 0)
    if not mine:
        head = f"{day}的{name}共{lines}条，" if lines else f"{day}的{name}"
        sentences.append(head + "没有发现明显异常。")
        sentences.append(NEXT_STEP[kind])
        return sentences
    levels = stats.get("levels") or {}
    errors = int(levels.get("ERROR", 0)) + int(levels.get("FATAL", 0))
    warns = int(levels.get("WARN", 0))
    counts = "，".join(
        p for p in (f"错误{errors}条" if errors else "", f"警告{warns}条" if warns else "") if p
    )
    head = f"{day}的{name}共{lines}条" + (f"，{counts}" if counts else "") if lines else f"{day}的{name}"
    sentences.append(f"{head}，{len(mine)}个问题值得关注，最严重的是：")
    for i, f in enumerate(mine[:4], 1):
        when = _local_time(f.get("first_ts") or 0, tz)
        text = _clause(f.get("summary_zh") or f.get("title") or "")
        timed = f"第{i}，{text}" + (f"，{when}开始" if when else "") + "。"
        plain = f"第{i}，{text}。"
        sentence = next((c for c in (timed, plain) if _fits(sentences, c + NEXT_STEP[kind])), None)
        if sentence is None:
            break
        sentences.append(sentence)
    quote = evidence_sentence(evidence or [])
    if quote and _fits(sentences, quote + NEXT_STEP[kind]):
        sentences.append(quote)
    sentences.append(NEXT_STEP[kind])
    return sentences


def template_evidence(report: dict[str, Any] | None, kind: str, limit: int = 3) -> list[dict[str, Any]]:
    """The day's most frequent ERROR/FATAL templates of one kind (what the index holds for the day)."""
    rows = [
        t
        for t in (report or {}).get("templates") or []
        if t.get("kind") == kind and str(t.get("level", "")).upper() in ("ERROR", "FATAL")
    ]
    rows.sort(key=lambda t: -int(t.get("count") or 0))
    return [{"source": "template", **t} for t in rows[:limit]]


def _short_template(text: str, limit: int = 36) -> str:
    t = _clean(text, 200).replace("<*>", "…")
    t = " ".join(t.split())
    return t if len(t) <= limit else t[:limit].rstrip() + "…"


def evidence_sentence(hits: list[dict[str, Any]]) -> str | None:
    """Quote the strongest log template hit, e.g. 日志里最多的一类错误是 web-frontend 的“redis timeout…”，共24条。"""
    for h in hits:
        if h.get("source") != "template":
            continue
        text = _short_template(h.get("template") or h.get("text") or "")
        if not text:
            continue
        who = _clause(h.get("workload") or "", 40)
        count = int(h.get("count") or 0)
        return f"日志里最多的一类错误是{who + ' 的' if who else ''}“{text}”" + (
            f"，共{count}条。" if count else "。"
        )
    return None


def correlate(report: dict[str, Any], day: str, tz: str) -> list[str]:
    """Chains business errors → k8s events → audit changes, strongest first."""
    day = day_cn(day)
    findings = report.get("findings") or []
    chains = ranked(f for f in findings if f.get("category") == "change_before_errors")
    sentences: list[str] = []
    if chains:
        sentences.append(f"关联{day}的三类日志，发现{len(chains)}条变更导致故障的因果链。")
        for f in chains[:3]:
            when = _local_time(f.get("first_ts") or 0, tz)
            sentence = (f"{when}，" if when else "") + _sentence(f.get("summary_zh") or f.get("title") or "")
            if not _fits(sentences, sentence + NEXT_STEP["correlate"]):
                break
            sentences.append(sentence)
    else:
        top = ranked(findings)[:3]
        if not top:
            return [f"{day}的三类日志都没有发现明显异常。", NEXT_STEP["correlate"]]
        sentences.append(f"关联{day}的三类日志，没有找到明确的变更导致故障的因果链，最值得关注的是：")
        for f in top:
            sentence = _sentence(f.get("summary_zh") or f.get("title") or "")
            if not _fits(sentences, sentence + NEXT_STEP["correlate"]):
                break
            sentences.append(sentence)
    sentences.append(NEXT_STEP["correlate"])
    return sentences


ADVICE_NEXT = "需要我查看最近的告警，或者再详细说说某一条吗？"


def _tag(image: str) -> str:
    return image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else image


def advice_for(f: dict[str, Any]) -> str | None:
    """One speakable recommendation for a finding, from its evidence (pure, deterministic)."""
    ev = f.get("evidence") or {}
    workload = _clause(f.get("workload") or "", 40)
    if f.get("category") == "change_before_errors" and isinstance(ev.get("change"), dict):
        change = ev["change"]
        user = _clause(change.get("user") or f.get("user") or "", 30)
        if change.get("reverted_by"):
            return f"{user}对 {workload} 的变更已经被 {_clause(change['reverted_by'], 30)} 撤回，建议确认 {workload} 已经恢复。"
        old = change.get("old_images") or {}
        if old:
            target = _tag(str(next(iter(old.values()))))
            return f"建议把 {workload} 回滚到上一个镜像版本 {_clause(target, 40)}。"
        if change.get("replicas"):
            return f"{user}把 {workload} 扩到了{change['replicas']}个副本，建议调回副本数或者给集群扩容节点。"
        if change.get("resource") == "configmaps":
            return (
                f"建议把配置 {_clause(change.get('name') or '', 60)} 恢复到修改前的版本，再重启 {workload}。"
            )
        if change.get("storage_classes"):
            classes = "、".join(_clause(c, 30) for c in change["storage_classes"][:2])
            return f"{workload} 用的存储类 {classes} 不存在，建议改成集群里已有的存储类。"
        return f"建议检查{user}对 {workload} 的变更，必要时撤销。"
    if f.get("category") == "risky_audit" and ev.get("risk") == "rbac":
        user = _clause(f.get("user") or ev.get("user") or "", 30)
        name = _clause(str(f.get("object") or "").rsplit("/", 1)[-1], 40)
        return f"建议立即删除 {user} 创建的权限绑定 {name}，并轮换被读取过的密钥。"
    return None


def advice(report: dict[str, Any] | None, day: str, tz: str) -> list[str]:
    """Sentences answering "怎么处理/要不要回滚": one recommendation per causal chain or risky change."""
    if not report:
        return [f"{day_cn(day)}还没有日志分析报告，暂时给不出处理建议。", "需要我现在开始分析吗？"]
    findings = ranked(
        f
        for f in report.get("findings") or []
        if f.get("category") in ("change_before_errors", "risky_audit")
    )
    sentences: list[str] = []
    seen: set[str] = set()
    for f in findings:
        tip = advice_for(f)
        if not tip or tip in seen:
            continue
        seen.add(tip)
        if not _fits(sentences, tip + ADVICE_NEXT):
            break
        sentences.append(tip)
    if not sentences:
        return [f"{day_cn(day)}没有发现需要回滚的变更，建议先观察各服务的错误率。", ADVICE_NEXT]
    head = f"根据{day_cn(day)}的分析，我的处理建议是："
    if _fits([head, *sentences], ADVICE_NEXT):
        sentences.insert(0, head)
    sentences.append(
        "回滚需要你确认后才会执行。" if _fits(sentences, "回滚需要你确认后才会执行。" + ADVICE_NEXT) else ""
    )
    return [s for s in sentences if s] + [ADVICE_NEXT]
