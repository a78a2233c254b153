"""The deterministic analyst: turns a `DayReport` into llm_analysis.md and a speakable Chinese summary, no LLM.

The summary follows the broadcast order (1. abnormal situations in business / event / audit logs, 2. key
findings and risks, 3. what to handle now, 4. possible solutions, then the follow-up question) and fits a speech
budget: clauses carry priorities and the least important ones are dropped until it fits. Only identifiers
(workload, user, image tag, storage class…) are taken from the logs, after sanitising; no raw log text is spoken,
and log text in the markdown is quoted as data inside code blocks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from agents.analyst.incidents import spoken_name
from agents.findings import Finding
from agents.log_agents.common import clean_text
from agents.report import Analysis, DayReport, SearchIndex

FOLLOW_UP = "是否需要针对某类日志或某个问题进行更详细的分析？"
MAX_SUMMARY_CHARS = 220  # with MAX_SPEECH_S: ≤ 45 s of speech
MAX_SPEECH_S = 44.0
NUMERALS = "一二三四五六七八九十"
KIND_ZH = {"business": "业务日志", "event": "事件日志", "audit": "审计日志"}
SEV_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
_NAME = re.compile(r"[^A-Za-z0-9._:/@+-]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def name(value: Any, limit: int = 48) -> str:
    """An identifier from log data, safe to speak: only name characters, capped."""
    return _NAME.sub("", str(value or ""))[:limit]


def who(user: Any) -> str:
    """A speakable actor: ``system:serviceaccount:ci:ci-bot`` → ``ci-bot 服务账号``, never the full string."""
    text = str(user or "")
    if text.startswith("system:serviceaccount:"):
        return f"{name(text.rsplit(':', 1)[-1], 40)} 服务账号"
    return name(text.split("@")[0], 40)


def speech_seconds(text: str) -> float:
    """Rough speaking time: CJK at 4.5 chars/s, Latin letters/digits spelled at ~9 chars/s, pauses at 。，；."""
    cjk = len(_CJK.findall(text))
    latin = sum(ch.isascii() and ch.isalnum() for ch in text)
    pauses = sum(text.count(p) for p in "。；，：？")
    return round(cjk / 4.5 + latin / 9 + pauses * 0.15, 1)


@dataclass
class Clause:
    text: str
    priority: int  # lower = more important; dropped from the highest number first
    section: int  # 1..4
    order: int = 0


def _tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else last


class DeterministicAnalyst:
    """Implements `agents.report.Analyst` without any model."""

    name = "deterministic"

    def __init__(self, max_chars: int = MAX_SUMMARY_CHARS, timezone: str = "Asia/Shanghai") -> None:
        self.max_chars = max_chars
        self.last_untrimmed = ""
        self.timezone = timezone

    async def analyze(self, report: DayReport, index: SearchIndex | None = None) -> Analysis:
        summary, used = self.summary(report)
        md = self.markdown(report, summary)
        return Analysis(
            analysis_md=md,
            summary=summary,
            analyst=self.name,
            extra={
                "summary_chars": len(summary),
                "speech_seconds": speech_seconds(summary),
                "findings_used": used,
            },
        )

    # ------------------------------------------------------------ summary

    def summary(self, report: DayReport) -> tuple[str, list[str]]:
        if report.no_logs:
            return self._no_logs_summary(report), []
        if report.incidents:
            return self._incident_summary(report)
        clauses, used = self._clauses(report)
        head = f"{_day_zh(report.day)}日志分析。"
        if not clauses:
            failed = [KIND_ZH.get(k, k) for k, s in report.stats.items() if s.error]
            body = (
                "三类日志都没有发现明显异常。"
                if not failed
                else f"{'、'.join(failed)}读取失败，其余日志没有发现明显异常。"
            )
            return head + body + FOLLOW_UP, used
        self.last_untrimmed = head + _render(clauses) + FOLLOW_UP
        while True:
            text = head + _render(clauses) + FOLLOW_UP
            if len(text) <= self.max_chars and speech_seconds(text) <= MAX_SPEECH_S:
                return text, used
            droppable = [c for c in clauses if c.priority < 100]
            if not droppable:
                return text[: self.max_chars - len(FOLLOW_UP)] + FOLLOW_UP, used
            worst = max(droppable, key=lambda c: (c.priority, c.order))
            clauses.remove(worst)

    @staticmethod
    def _no_logs_summary(report: DayReport) -> str:
        where = f"查找了 {len(report.looked_at)} 个位置，" if report.looked_at else ""
        return (f"{_day_zh(report.day)}没有读到日志，{where}可能是日志还没投递，或路径配置不对。"
                "这不代表没有问题，日志到了我会重新分析。")  # fmt: skip

    def _incident_summary(self, report: DayReport) -> tuple[str, list[str]]:
        """Every incident in rank order with its cause, numbered without gaps, within the speech budget."""
        incs = sorted(report.incidents, key=lambda i: i.rank)
        failed = [KIND_ZH.get(k, k) for k, st in report.stats.items() if st.error]
        head = f"{_day_zh(report.day)}日志分析，" + (f"{'、'.join(failed)}读取不完整，" if failed else "")
        head += f"发现 {len(incs)} 个问题。"
        used: list[str] = []

        def render(level: int) -> list[str]:
            out = []
            for n, inc in enumerate(incs):
                label = NUMERALS[n] if n < len(NUMERALS) else str(n + 1)
                cause = (
                    inc.short_zh,
                    inc.terse_zh or inc.short_zh,
                    (inc.terse_zh or inc.short_zh).split("，")[0],
                )[level]
                if not (inc.found and cause):
                    cause = ("报错增多，原因还没查明", "原因未明", "原因未明")[level]
                out.append(f"{label}、{spoken_name(inc)}：{cause}。")
            return out

        # the most detail that still names every incident; only past the tersest form are the last ones dropped
        items = render(2)
        for level in (0, 1):
            full = render(level)
            if (
                speech_seconds(head + "".join(full) + FOLLOW_UP) <= MAX_SPEECH_S
                and len(head + "".join(full) + FOLLOW_UP) <= self.max_chars
            ):
                items = full
                break
        keep = len(items)
        while True:
            rest = len(items) - keep
            more = f"另有 {rest} 个问题，详见报告。" if rest else ""
            text = head + "".join(items[:keep]) + more + FOLLOW_UP
            if (speech_seconds(text) <= MAX_SPEECH_S and len(text) <= self.max_chars) or keep == 0:
                break
            keep -= 1
        for inc in incs[:keep]:
            used.extend(inc.finding_ids)
        return text, used

    def _clauses(self, report: DayReport) -> tuple[list[Clause], list[str]]:
        fs = sorted(report.findings, key=lambda f: (SEV_RANK.get(f.severity, 9), -f.count))
        links = [f for f in fs if f.category == "change_before_errors"]
        linked_wl = {f.workload for f in links}
        out: list[Clause] = []
        used: list[str] = []
        n = 0

        def add(text: str, prio: int, section: int, f: Finding | None = None) -> None:
            nonlocal n
            n += 1
            out.append(Clause(text, prio, section, n))
            if f is not None and f.id not in used:
                used.append(f.id)

        # 1. abnormal situations, per kind
        failed = [KIND_ZH.get(k, k) for k, s in report.stats.items() if s.error]
        if failed:
            add(f"{'、'.join(failed)}读取不完整", 5, 1)
        spikes = [f for f in fs if f.kind == "business" and f.category == "error_spike"]
        spike_names = [name(f.workload) for f in spikes if f.workload]
        if spike_names:
            # services whose errors a change explains are named in section 2 already
            explained = linked_wl | {
                f.workload for f in fs if f.kind == "event" and SEV_RANK.get(f.severity, 9) <= 1
            }
            lead = [name(f.workload) for f in spikes if f.workload and f.workload not in explained
                    and not explained & set(f.evidence.get("mentions") or [])]  # fmt: skip
            add(
                f"业务日志中，{'、'.join((lead or spike_names)[:3])} 错误激增",
                30 if lead else 48,
                1,
                spikes[0],
            )
        elif any(
            f.kind == "business" and f.category == "error_template" and f.severity in ("high", "critical")
            for f in fs
        ):
            top = next(f for f in fs if f.kind == "business" and f.category == "error_template")
            add(f"业务日志中，{name(top.workload) or '部分服务'} 错误较多", 30, 1, top)
        events = [
            f
            for f in fs
            if f.kind == "event" and f.category == "k8s_warning" and SEV_RANK.get(f.severity, 9) <= 2
        ]
        ev_clauses = []
        stated: set[str] = set()  # workloads whose event problem section 1 names
        for f in events:
            phrase = self._event_phrase(f)
            if phrase:
                covered = f.workload in linked_wl and f.evidence.get("class") == "image_pull"
                minor = f.evidence.get("class") in ("probe_failure", "scheduling", "other")
                ev_clauses.append((phrase, 50 if covered else 20 if minor else 10 + SEV_RANK[f.severity], f))
                stated.add(f.workload)
        for i, (phrase, prio, f) in enumerate(ev_clauses[:7]):
            add(("事件日志中，" if i == 0 else "") + phrase, prio, 1, f)
        risky = [f for f in fs if f.category == "risky_audit" and SEV_RANK.get(f.severity, 9) <= 1]
        seen_users: set[str] = set()
        audit_phrases = []
        for f in risky:
            phrase = self._audit_phrase(f, seen_users)
            if phrase:
                audit_phrases.append((phrase, 10 if f.evidence.get("risk") == "rbac" else 25, f))
        for i, (phrase, prio, f) in enumerate(audit_phrases[:3]):
            add(("审计日志中，" if i == 0 else "") + phrase, prio, 1, f)
        # 2. key findings and risks: changes followed by errors, privilege risks
        for f in links[:5]:
            ch = f.evidence.get("change", {})
            causal = ch.get("images") or ch.get("resource") == "configmaps"
            prio = 11 if causal else 35 if f.workload in stated else 15
            add(self._link_phrase(f), prio, 2, f)
        # 3. what needs handling now
        for f in links:
            ch = f.evidence.get("change", {})
            if ch.get("images"):
                old = [_tag(i) for i in (ch.get("old_images") or {}).values()]
                target = f"到 {name(old[0])}" if old else "的镜像"
                if ch.get("reverted_by"):
                    add(
                        f"确认 {name(f.workload)} 已回滚{target.removeprefix('的镜像')}",
                        40 if f is links[0] else 60,
                        3,
                        f,
                    )
                else:
                    add(f"回滚 {name(f.workload)} {target}", 40 if f is links[0] else 60, 3, f)
            elif ch.get("resource") == "configmaps":
                add(f"回退配置 {name(ch.get('name'))}", 46, 3, f)
        for f in risky:
            if f.evidence.get("risk") == "rbac":
                add(f"撤销 {who(f.user)} 的权限并轮换密钥", 28, 3, f)
                break
        # 4. possible solutions
        for f in events:
            sol = self._solution(f)
            if sol:
                add(sol, 70 + SEV_RANK[f.severity] * 5, 4, f)
        for s in (1, 3, 4):  # every section keeps at least one clause: protect its most important one
            sec = [c for c in out if c.section == s]
            if sec:
                min(sec, key=lambda c: (c.priority, c.order)).priority = -1 if s == 1 else 100
        if not any(c.section == 3 for c in out) and out:
            urgent = next((f for f in fs if SEV_RANK.get(f.severity, 9) <= 1), None)
            if urgent is not None:
                add(f"优先处理 {name(urgent.workload) or who(urgent.user) or '上述问题'}", 100, 3)
        if not any(c.section == 4 for c in out) and out:
            add("按上面的线索逐项排查并复核变更记录", 100, 4)
        return out, used

    @staticmethod
    def _event_phrase(f: Finding) -> str:
        ev = f.evidence
        w = name(f.workload) or name(f.object.partition("/")[2]) or name(f.object)
        cls = ev.get("class")
        if cls == "image_pull":
            tags = ev.get("image_tags") or []
            return f"{w} 拉取镜像{' ' + name(tags[0]) + ' ' if tags else ''}失败"
        if cls == "oom_kill":
            return f"{w} 内存溢出反复重启"
        if cls == "crash_loop":
            return f"{w} 容器反复重启"
        if cls == "insufficient_resources":
            res = ev.get("resources") or []
            zh = (
                "、".join("内存" if r == "memory" else "CPU" if r == "cpu" else name(r) for r in res)
                or "资源"
            )
            return f"{w} {zh}不足无法调度"
        if cls == "unbound_pvc":
            sc = ev.get("storage_classes") or []
            return f"{w} 缺少存储类 {name(sc[0])}" if sc else f"{w} 存储卷无法绑定"
        if cls == "hpa_metrics":
            return f"{w} 的 HPA 取不到指标"
        if cls == "probe_failure":
            return f"{w} 健康检查失败" if f.severity != "low" else ""
        if cls == "scheduling":
            return f"{w} 无法调度"
        if cls == "eviction":
            return f"{w} 的 Pod 被驱逐"
        if cls == "node_pressure":
            return f"节点 {name(f.object.partition('/')[2]) or w} 资源紧张或失联"
        if cls == "node_oom" and f.severity in ("critical", "high"):
            return f"节点 {name(f.object.partition('/')[2])} 发生内存溢出"
        return ""

    @staticmethod
    def _audit_phrase(f: Finding, seen: set[str]) -> str:
        ev = f.evidence
        user = who(f.user)
        risk = ev.get("risk")
        if risk == "rbac":
            seen.add(user)
            role = name(ev.get("role")) or "高权限"
            odd = "陌生账号 " if ev.get("unusual_user") else ""
            return f"{odd}{user} 创建了 {role} 权限绑定" + ("并读取密钥" if ev.get("secret_reads") else "")
        if user in seen:
            return ""
        seen.add(user)
        if risk == "secret_read":
            return f"{user} 读取了密钥"
        if risk == "exec":
            return f"{user} 进入容器执行命令"
        if risk == "delete":
            return f"{user} 删除了重要资源"
        if risk == "denied":
            return f"{user} 多次被拒绝访问"
        return ""

    @staticmethod
    def _link_phrase(f: Finding) -> str:
        ch = f.evidence.get("change", {})
        ev, biz = f.evidence.get("events", {}), f.evidence.get("business", {})
        user, w = who(f.user), name(f.workload)
        effects = []
        if ev.get("linked"):
            classes = ev.get("classes") or []
            effects.append(
                "拉取失败" if "image_pull" in classes else
                "无法调度" if {"insufficient_resources", "scheduling"} & set(classes) else
                "存储卷无法绑定" if "unbound_pvc" in classes else
                "反复重启" if {"crash_loop", "oom_kill"} & set(classes) else "出现告警事件"
            )  # fmt: skip
        if biz.get("linked"):
            effects.append("报错激增")
        effect = "、".join(effects)
        if ch.get("images"):
            tags = "、".join(name(t) for t in ch.get("image_tags") or [])
            return f"{user} 把 {w} 镜像改为 {tags} 后{effect}"
        if ch.get("resource") == "configmaps":
            cm = name(ch.get("name"))
            return f"{user} 修改配置 {cm} 后{'' if cm.startswith(w) else ' ' + w + ' '}{effect}"
        if ch.get("replicas") is not None:
            return f"{user} 把 {w} 扩到 {ch['replicas']} 副本后{effect}"
        if ch.get("verb") == "create":
            return f"{user} 创建 {w} 后{effect}"
        return f"{user} 修改 {w} 后{effect}"

    @staticmethod
    def _solution(f: Finding) -> str:
        ev = f.evidence
        w = name(f.workload) or name(f.object.partition("/")[2])
        cls = ev.get("class")
        if cls == "oom_kill":
            return f"调大 {w} 内存限制"
        if cls == "insufficient_resources":
            return f"扩容节点或降低 {w} 资源请求"
        if cls == "unbound_pvc":
            sc = ev.get("storage_classes") or []
            return f"补建存储类 {name(sc[0])}" if sc else f"检查 {w} 的存储卷声明"
        if cls == "hpa_metrics":
            return "检查 metrics-server 是否正常"
        if cls == "crash_loop":
            return f"查看 {w} 的容器日志"
        if cls == "image_pull":
            return "发布前校验镜像标签"
        return ""

    # ------------------------------------------------------------ markdown

    def markdown(self, report: DayReport, summary: str) -> str:
        tz = ZoneInfo(self.timezone)
        lines = [
            f"# 日志分析 {report.owner} {report.day}",
            "",
            "> 分析方式：确定性分析（未使用大模型）。日志原文是不可信数据，下面只作为数据引用在代码块中，"
            "其中出现的任何指令都不会被执行。",
            "",
            "## 播报摘要",
            "",
            summary,
            "",
        ]
        if report.no_logs:
            lines += ["## 没有日志", "", "这一天一行日志都没有读到（不是“没有异常”）。查找过的位置：", ""]
            lines += [f"- `{_code(w, 300)}`" for w in report.looked_at] or ["- （来源没有给出位置）"]
            lines.append("")
        if report.incidents:
            lines += ["## 问题与原因（按影响排序）", "", "| # | 服务 | 严重度 | 影响 | 原因 | 因果对象 | 建议 |",
                      "|---|---|---|---|---|---|---|"]  # fmt: skip
            for inc in sorted(report.incidents, key=lambda i: i.rank):
                who = name(inc.workload) + (
                    f"（另有 {', '.join(name(a) for a in inc.affected)}）" if inc.affected else ""
                )
                lines.append(f"| {inc.rank} | {name(inc.namespace)}/{who} | {inc.severity} | {inc.impact} | "
                             f"{_md_inline(inc.cause_zh) if inc.found else '未查明'} | {name(inc.cause_object, 120)} | "
                             f"{_md_inline(inc.fix_zh)} |")  # fmt: skip
            lines.append("")
        lines += [
            "## 数据概况",
            "",
            "| 日志 | 行数 | 记录 | 坏行 | 模板 | 级别 | 状态 |",
            "|---|---|---|---|---|---|---|",
        ]
        for k, s in report.stats.items():
            levels = ", ".join(f"{lv} {n}" for lv, n in sorted(s.levels.items()))
            status = f"失败: {_md_inline(s.error)}" if s.error else "完成"
            lines.append(
                f"| {KIND_ZH.get(k, k)} | {s.lines} | {s.records} | {s.bad_lines} | {s.templates} | {levels} | {status} |"
            )
        bad = [(k, x) for k, s in report.stats.items() for x in s.bad_samples[:2]]
        if bad:
            lines += ["", "被拒绝的行（节选）：", "", "```text"]
            lines += [f"[{k}] {_code(x, 200)}" for k, x in bad]
            lines.append("```")
        sections = [
            (
                "关联分析：变更之后出现的错误",
                [f for f in report.findings if f.category == "change_before_errors"],
            ),
            ("业务日志", [f for f in report.findings if f.kind == "business"]),
            ("事件日志", [f for f in report.findings if f.kind == "event"]),
            (
                "审计日志",
                [f for f in report.findings if f.kind == "audit" and f.category != "change_before_errors"],
            ),
        ]
        for title, items in sections:
            lines += ["", f"## {title}", ""]
            if not items:
                lines.append("没有发现。")
                continue
            for f in items[:40]:
                lines += self._finding_md(f, tz)
            if len(items) > 40:
                lines.append(f"……另有 {len(items) - 40} 条较低优先级的发现，见 findings.json。")
        if report.timeline:
            lines += ["", "## 时间线", ""]
            for e in report.timeline[:60]:
                when = datetime.fromtimestamp(e["ts"], tz).strftime("%H:%M") if e.get("ts") else "--:--"
                lines.append(
                    f"- {when} [{KIND_ZH.get(e.get('kind', ''), '')}] `{_md_inline(e.get('what', ''), 240)}`"
                )
        if report.stage_seconds:
            lines += [
                "",
                "## 运行耗时（秒）",
                "",
                ", ".join(f"{k} {v}" for k, v in report.stage_seconds.items()),
            ]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _finding_md(f: Finding, tz: ZoneInfo) -> list[str]:
        span = ""
        if f.first_ts:
            a = datetime.fromtimestamp(f.first_ts, tz).strftime("%H:%M")
            b = datetime.fromtimestamp(f.last_ts or f.first_ts, tz).strftime("%H:%M")
            span = f"{a}–{b}"
        who = " / ".join(x for x in ((f.namespace and f.workload and f"{f.namespace}/{f.workload}") or f.workload,
                                     f.user and f"用户 {f.user}") if x)  # fmt: skip
        out = [
            f"### [{f.severity}] {f.category}{' — ' + _md_inline(who, 120) if who else ''}",
            "",
            f"- 结论：{_md_inline(f.summary_zh, 300)}",
            f"- 标题：`{_md_inline(f.title, 400)}`",
            f"- 次数：{f.count}" + (f"；时间：{span}" if span else ""),
        ]
        if f.evidence:
            out.append(
                f"- 证据：`{_md_inline(json.dumps(f.evidence, ensure_ascii=False, default=str), 700)}`"
            )
        if f.template:
            out += ["", "```text", _code(f.template, 400), "```"]
        if f.examples:
            out += ["", "示例日志（原文，不可信）：", "", "```text"]
            out += [_code(x, 400) for x in f.examples[:2]]
            out.append("```")
        out.append("")
        return out


def _render(clauses: list[Clause]) -> str:
    heads = {1: "一、异常情况：", 2: "二、关键发现与风险：", 3: "三、需要立即处理：", 4: "四、建议："}
    parts = []
    for s in (1, 2, 3, 4):
        sec = sorted((c for c in clauses if c.section == s), key=lambda c: c.order)
        if sec:
            joined = ""
            for i, c in enumerate(sec):
                sep = (
                    ""
                    if i == 0
                    else ("；" if c.text.startswith(("事件日志", "审计日志", "业务日志")) else "，")
                )
                joined += sep + c.text
            parts.append(heads[s] + joined + "。")
    return "".join(parts)


def _day_zh(day: str) -> str:
    try:
        d = date.fromisoformat(day)
    except ValueError:
        return ""
    return f"{d.month}月{d.day}日"


def _code(text: str, limit: int) -> str:
    return clean_text(text, limit).replace("```", "ˋˋˋ")


def _md_inline(text: Any, limit: int = 300) -> str:
    return clean_text(str(text or ""), limit).replace("`", "ˋ").replace("|", "¦")
