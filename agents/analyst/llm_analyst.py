"""LLM analyst: findings (+ index context) → validated JSON → analysis markdown and a spoken summary.

The model never writes the output files directly. It must return JSON matching a schema whose
evidence ids are restricted to the report's real finding ids; code then renders `llm_analysis.md` and
`llm_summary.txt`, so the four spoken sections and the closing follow-up question are guaranteed and
the summary fits ~90 s of speech. Log text is untrusted: it goes into one nonce-delimited data block,
sanitised so it cannot close that block, and the schema has no field through which an "action" could
come out. Any LLM failure raises `LLMError`; the pipeline then uses the deterministic analyst.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from pathlib import Path
from string import Template
from typing import Any

from agents.findings import SEVERITIES, Finding
from agents.llm import LLMClient, LLMError
from agents.report import Analysis, DayReport, SearchIndex
from prompts import prompt_path

log = logging.getLogger(__name__)

PROMPTS_DIR = prompt_path("analyst_system.txt").parent  # the prompts package (one loader: prompts/)
SUMMARY_SECTIONS = (
    ("overview", "一、总体情况"),
    ("key_issues", "二、重点问题"),
    ("risks", "三、风险与变更"),
    ("suggestions", "四、处理建议"),
)
# Chinese TTS speaks ~4-5 characters/s: 360 characters of sections + the question ≈ 80-90 s.
SUMMARY_MAX_CHARS = 360
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def analysis_schema(finding_ids: list[str]) -> dict[str, Any]:
    """JSON schema of the model's answer; evidence may only cite the given finding ids."""
    if finding_ids:
        evidence = {
            "type": "array",
            "minItems": 1,
            "maxItems": 10,
            "items": {"enum": sorted(set(finding_ids))},
        }
    else:
        evidence = {"type": "array", "maxItems": 0}
    text = {"type": "string", "minLength": 1, "maxLength": 400}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["analysis", "summary"],
        "properties": {
            "analysis": {
                "type": "array",
                "maxItems": 8,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["title", "severity", "conclusion", "evidence"],
                    "properties": {
                        "title": {"type": "string", "minLength": 1, "maxLength": 120},
                        "severity": {"enum": list(SEVERITIES)},
                        "conclusion": {"type": "string", "minLength": 1, "maxLength": 1000},
                        "evidence": evidence,
                        "recommendation": {"type": "string", "maxLength": 400},
                    },
                },
            },
            "summary": {
                "type": "object",
                "additionalProperties": False,
                "required": [k for k, _ in SUMMARY_SECTIONS] + ["follow_up_question"],
                "properties": {
                    **{k: text for k, _ in SUMMARY_SECTIONS},
                    "follow_up_question": {"type": "string", "minLength": 2, "maxLength": 80},
                },
            },
        },
    }


class LLMAnalyst:
    """Implements `agents.report.Analyst` with an OpenAI-compatible model."""

    def __init__(
        self,
        llm: LLMClient,
        *,
        prompts_dir: Path = PROMPTS_DIR,
        max_findings: int = 40,
        context_findings: int = 6,
        context_per_finding: int = 3,
        max_data_chars: int = 24000,
        max_tokens: int = 2000,
    ):
        self.llm = llm
        self.system_t = Template((prompts_dir / "analyst_system.txt").read_text(encoding="utf-8"))
        self.user_t = Template((prompts_dir / "analyst_user.txt").read_text(encoding="utf-8"))
        self.max_findings = max_findings
        self.context_findings = context_findings
        self.context_per_finding = context_per_finding
        self.max_data_chars = max_data_chars
        self.max_tokens = max_tokens

    async def analyze(self, report: DayReport, index: SearchIndex | None = None) -> Analysis:
        findings = top_findings(report.findings, self.max_findings)
        context = self._context(report, findings, index)
        messages = self.build_messages(report, findings, context)
        schema = analysis_schema([f.id for f in findings])
        answer = await self.llm.complete_json(
            messages, schema, name="log_analysis", max_tokens=self.max_tokens
        )
        by_id = {f.id: f for f in findings}
        return Analysis(
            analysis_md=render_analysis_md(report, answer, by_id, f"llm:{self.llm.model}"),
            summary=render_summary(report.day, answer["summary"]),
            analyst=f"llm:{self.llm.model}",
            extra={"llm_answer": answer, "findings_sent": len(findings), "context_templates": len(context)},
        )

    # -- prompt --
    def build_messages(
        self, report: DayReport, findings: list[Finding], context: list[dict[str, Any]]
    ) -> list[dict[str, str]]:
        nonce = secrets.token_hex(6)  # unguessable, so log text cannot forge the closing marker
        data = prompt_data(report, findings, context, self.max_data_chars)
        return [
            {"role": "system", "content": self.system_t.substitute(nonce=nonce)},
            {"role": "user", "content": self.user_t.substitute(nonce=nonce, day=report.day, data=data)},
        ]

    def _context(
        self, report: DayReport, findings: list[Finding], index: SearchIndex | None
    ) -> list[dict[str, Any]]:
        """Related templates for the most severe findings (also from earlier days: "seen before")."""
        if index is None:
            return []
        out: list[dict[str, Any]] = []
        seen = {f.template for f in findings if f.template}
        for f in findings[: self.context_findings]:
            try:
                hits = index.search(f.title, k=self.context_per_finding, kind=str(f.kind), owner=report.owner)
            except Exception as e:  # the index only adds context; the analysis can do without it
                log.warning("index search failed, continuing without context: %s", e)
                return out
            for h in hits:
                text = str(h.get("text", ""))
                if h.get("source") == "finding" or text in seen:
                    continue
                seen.add(text)
                out.append(
                    {
                        "related_to": f.id,
                        "template": text,
                        "level": h.get("level", ""),
                        "count": h.get("count", 0),
                        "day": h.get("day", ""),
                    }
                )
        return out


# -- pure helpers --
def top_findings(findings: list[Finding], limit: int) -> list[Finding]:
    return sorted(findings, key=lambda f: (_SEVERITY_RANK.get(f.severity, 9), -f.count))[:limit]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_MARKER = re.compile(r"<{2,}|>{2,}")


def sanitize(text: Any, limit: int = 300) -> str:
    """Make one untrusted log string safe to embed in the data block (no control chars, no markers)."""
    s = _CONTROL.sub(" ", str(text))
    s = _MARKER.sub(lambda m: "‹" * len(m.group()) if m.group()[0] == "<" else "›" * len(m.group()), s)
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _clean(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return sanitize(value, limit)
    if isinstance(value, dict):
        return {sanitize(k, 60): _clean(v, limit) for k, v in list(value.items())[:20]}
    if isinstance(value, list | tuple):
        return [_clean(v, limit) for v in list(value)[:10]]
    return value


def prompt_data(
    report: DayReport, findings: list[Finding], context: list[dict[str, Any]], max_chars: int
) -> str:
    """The JSON inside the data block, shrunk (examples, then context, then findings) to fit max_chars."""
    stats = {
        k: {
            "lines": s.lines,
            "records": s.records,
            "levels": s.levels,
            "templates": s.templates,
            "failed": s.error,
        }
        for k, s in report.stats.items()
    }

    def finding(f: Finding, examples: int) -> dict[str, Any]:
        d = {
            "id": f.id,
            "kind": str(f.kind),
            "category": f.category,
            "severity": f.severity,
            "title": f.title,
            "summary_zh": f.summary_zh,
            "count": f.count,
            "namespace": f.namespace,
            "workload": f.workload,
            "object": f.object,
            "user": f.user,
            "template": f.template,
            "first_ts": f.first_ts,
            "last_ts": f.last_ts,
            "examples": f.examples[:examples],
            "evidence": f.evidence,
        }
        return {k: v for k, v in d.items() if v not in ("", None, [], {})}

    n, examples, ctx = len(findings), 2, list(context)
    while True:
        data = {
            "day": sanitize(report.day, 20),
            "stats": _clean(stats, 200),
            "findings": [_clean(finding(f, examples), 300) for f in findings[:n]],
            "timeline": [_clean(t, 200) for t in report.timeline[:30]],
            "related_templates": [_clean(c, 300) for c in ctx],
        }
        text = json.dumps(data, ensure_ascii=False, indent=1, default=str)
        if len(text) <= max_chars or (n <= 1 and not examples and not ctx):
            return text
        if examples:
            examples -= 1
        elif ctx:
            ctx = ctx[: len(ctx) // 2]
        else:
            n -= 1


def speakable(text: str) -> str:
    """Strip what TTS would read out literally (markdown, list bullets) and tidy whitespace."""
    s = re.sub(r"[*#`>_|]+", "", _CONTROL.sub(" ", text))
    s = re.sub(r"^\s*[-•]\s*", "", s, flags=re.M)
    return " ".join(s.split())


def _cut(text: str, limit: int) -> str:
    """Shorten to at most `limit` characters, preferably at a sentence end."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    stop = max(head.rfind(c) for c in "。！？；!?;")
    if stop >= limit // 3:
        return head[: stop + 1]
    return head[: max(1, limit - 1)].rstrip("，,、 ") + "。"


def fit_sections(sections: list[str], budget: int) -> list[str]:
    """Share `budget` characters: short sections keep everything, long ones share what is left."""
    out = list(sections)
    order = sorted(range(len(out)), key=lambda i: len(out[i]))
    left, remaining = budget, len(out)
    for i in order:
        allowance = left // remaining
        out[i] = _cut(out[i], allowance)
        left -= len(out[i])
        remaining -= 1
    return out


def render_summary(day: str, summary: dict[str, str], max_chars: int = SUMMARY_MAX_CHARS) -> str:
    bodies = [speakable(summary[k]) or "无。" for k, _ in SUMMARY_SECTIONS]
    bodies = [b if b[-1] in "。！？!?." else b + "。" for b in bodies]
    bodies = fit_sections(bodies, max_chars)
    question = speakable(summary["follow_up_question"]).rstrip("。.!！?？ ") + "？"
    lines = [f"{_spoken_day(day)}的日志播报。"]
    lines += [f"{head}：{body}" for (_, head), body in zip(SUMMARY_SECTIONS, bodies, strict=True)]
    lines.append(question)
    return "\n".join(lines) + "\n"


def _spoken_day(day: str) -> str:
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", day)
    return f"{int(m.group(2))}月{int(m.group(3))}日" if m else day


def _md(text: str) -> str:
    """Untrusted text inside markdown: one line, no HTML, no code fences."""
    return sanitize(text, 400).replace("`", "'").replace("<", "&lt;")


def render_analysis_md(
    report: DayReport, answer: dict[str, Any], by_id: dict[str, Finding], analyst: str
) -> str:
    lines = [
        f"# 日志分析 · {report.day}",
        "",
        f"_analyst: {analyst} · owner: {_md(report.owner)}_",
        "",
        "## 结论",
        "",
    ]
    items = answer.get("analysis") or []
    if not items:
        lines += ["没有发现需要处理的问题。", ""]
    for n, item in enumerate(items, 1):
        lines += [f"### {n}. {_md(item['title'])} ({item['severity']})", "", _md(item["conclusion"]), ""]
        if item.get("recommendation"):
            lines += [f"**建议（需人工确认）**：{_md(item['recommendation'])}", ""]
        if item["evidence"]:
            lines.append("证据：")
            for fid in item["evidence"]:
                f = by_id[fid]
                lines.append(f"- `{fid}` [{f.kind}/{f.category}, {f.severity}, ×{f.count}] {_md(f.title)}")
            lines.append("")
    lines += ["## 概况", "", "| 日志 | 行数 | 记录 | 模板 | 级别 | 状态 |", "|---|---|---|---|---|---|"]
    for kind, s in report.stats.items():
        levels = ", ".join(f"{k} {v}" for k, v in sorted(s.levels.items()))
        status = f"失败: {_md(s.error)}" if s.error else "ok"
        lines.append(f"| {kind} | {s.lines} | {s.records} | {s.templates} | {levels} | {status} |")
    lines += ["", "## 播报摘要", ""]
    summary = answer["summary"]
    lines += [f"- **{head}**：{_md(summary[key])}" for key, head in SUMMARY_SECTIONS]
    lines += [f"- **追问**：{_md(summary['follow_up_question'])}", ""]
    return "\n".join(lines)


__all__ = [
    "SUMMARY_MAX_CHARS",
    "LLMAnalyst",
    "LLMError",
    "analysis_schema",
    "fit_sections",
    "prompt_data",
    "render_analysis_md",
    "render_summary",
    "sanitize",
]
