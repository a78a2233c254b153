"""Business-log agent: error/warn templates, error spikes and error rate per service and hour, new templates."""

from __future__ import annotations

import re
import statistics
from typing import Any

from agents.findings import Finding
from agents.log_agents.common import (
    DAY_BINS,
    ERROR_LEVELS,
    HOURS,
    NOTABLE_LEVELS,
    AgentResult,
    DayClock,
    Miner,
    TemplateAgg,
    TemplateHistory,
    TemplateStats,
    clean_text,
    contiguous,
    hourly_spikes,
    severity_by_count,
    template_hash,
)
from agents.records import LogKind, LogRecord

MAX_ERROR_TEMPLATES = 8
MAX_NEW_TEMPLATES = 10


def mentioned_workloads(text: str, known: set[str]) -> list[str]:
    """Known workload names that appear as whole words in ``text`` (e.g. "调用 order-api 失败")."""
    out = []
    for w in known:
        if len(w) >= 3 and w in text and re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text):
            out.append(w)
    return sorted(out)


class BusinessAgent:
    kind = LogKind.BUSINESS

    def __init__(self, clock: DayClock, history: TemplateHistory | None = None, min_spike: int = 8) -> None:
        self.clock = clock
        self.start = clock.start
        self.history = history
        self.min_spike = min_spike
        self.stats = TemplateStats(LogKind.BUSINESS, clock)
        self.svc_total: dict[str, list[int]] = {}
        self.svc_errors: dict[str, list[int]] = {}
        self.svc_error_bins: dict[str, list[int]] = {}
        self.svc_ns: dict[str, str] = {}

    def observe(self, rec: LogRecord, tid: int) -> None:
        self.stats.add(rec, tid)
        svc = rec.workload or "unknown"
        h = int((rec.ts - self.start) // 3600)
        h = 0 if h < 0 else 23 if h > 23 else h
        tot = self.svc_total.get(svc)
        if tot is None:
            tot = self.svc_total[svc] = [0] * HOURS
            self.svc_errors[svc] = [0] * HOURS
            self.svc_error_bins[svc] = [0] * DAY_BINS
            self.svc_ns[svc] = rec.namespace
        tot[h] += 1
        if rec.level in ERROR_LEVELS:
            self.svc_errors[svc][h] += 1
            b = int((rec.ts - self.start) // 300)
            self.svc_error_bins[svc][0 if b < 0 else DAY_BINS - 1 if b >= DAY_BINS else b] += 1

    @property
    def workloads(self) -> set[str]:
        return {s for s in self.svc_total if s != "unknown"}

    def finish(self, miner: Miner, known: set[str] | None = None) -> AgentResult:
        known = (known or set()) | self.workloads
        day = self.clock.day
        self.stats.canonicalize(miner)
        texts = {agg.tid: miner.template(agg.tid) for agg in self.stats.aggs.values()}
        notable = [a for a in self.stats.aggs.values() if a.level in NOTABLE_LEVELS]
        mentions = {a.tid: mentioned_workloads(texts[a.tid], known) for a in notable}
        result = AgentResult(LogKind.BUSINESS, templates=self.stats.templates(miner))
        result.findings.extend(self._service_spikes(notable, texts, mentions))
        errors = sorted(notable, key=lambda a: (a.level not in ERROR_LEVELS, -a.count))
        for agg in errors[:MAX_ERROR_TEMPLATES]:
            result.findings.append(
                self._template_finding(agg, texts[agg.tid], mentions[agg.tid], "error_template")
            )
        for agg in notable:
            hours = hourly_spikes(agg.hours, self.min_spike)
            if hours:
                f = self._template_finding(agg, texts[agg.tid], mentions[agg.tid], "spike")
                f.evidence["spike_hours"] = [f"{a:02d}:00-{b:02d}:59" for a, b in contiguous(hours)]
                f.severity = "medium" if f.severity == "low" else f.severity
                result.findings.append(f)
        if self.history is not None:
            keys = {template_hash("business", texts[a.tid]): a for a in self.stats.aggs.values()}
            new = [a for k, a in keys.items() if a.level in NOTABLE_LEVELS and self.history.is_new(k, day)]
            for agg in sorted(new, key=lambda a: -a.count)[:MAX_NEW_TEMPLATES]:
                f = self._template_finding(agg, texts[agg.tid], mentions[agg.tid], "new_template")
                f.summary_zh = f"出现新的{_level_zh(agg.level)}日志模板，共 {agg.count} 条。"
                result.findings.append(f)
            self.history.update(day, {k: texts[a.tid] for k, a in keys.items()})
        # correlation signals: errors per service, plus errors of templates that name another workload
        mention_bins: dict[str, list[int]] = {}
        mention_sources: dict[str, set[str]] = {}
        for agg in notable:
            if agg.bins is None or agg.level not in ERROR_LEVELS:
                continue
            for w in mentions[agg.tid]:
                acc = mention_bins.setdefault(w, [0] * DAY_BINS)
                for i, v in enumerate(agg.bins):
                    acc[i] += v
                mention_sources.setdefault(w, set()).update(s for s in agg.workloads if s != w)
        # a service's *own* errors: errors about calling another named workload are that workload's signal
        own_bins = {svc: list(b) for svc, b in self.svc_error_bins.items()}
        for agg in notable:
            if agg.bins is None or agg.level not in ERROR_LEVELS:
                continue
            for svc, n in agg.workloads.items():
                if svc in own_bins and any(m != svc for m in mentions[agg.tid]):
                    own, share = own_bins[svc], n / agg.count
                    for i, v in enumerate(agg.bins):
                        if v:
                            own[i] = max(0, own[i] - round(v * share))
        result.signals = {
            "error_bins": {s: b for s, b in own_bins.items() if any(b)},
            "mention_bins": mention_bins,
            "mention_sources": {w: sorted(s) for w, s in mention_sources.items()},
            "namespaces": dict(self.svc_ns),
            "error_rate_by_hour": {
                s: [round(e / t, 4) if t else 0.0 for e, t in zip(self.svc_errors[s], tot, strict=True)]
                for s, tot in self.svc_total.items()
                if any(self.svc_errors[s])
            },
        }
        for f in result.findings:
            if f.category == "error_spike":
                result.timeline.append(
                    {
                        "ts": f.first_ts,
                        "kind": "business",
                        "what": f.title,
                        "workload": f.workload,
                        "id": f.id,
                    }
                )
        return result

    def _service_spikes(
        self, notable: list[TemplateAgg], texts: dict[int, str], mentions: dict[int, list[str]]
    ) -> list[Finding]:
        out = []
        for svc, errs in self.svc_errors.items():
            total = self.svc_total[svc]
            hours = hourly_spikes(errs, self.min_spike)
            rates = [e / t if t else 0.0 for e, t in zip(errs, total, strict=True)]
            base_rate = statistics.median(rates)
            hours = [h for h in hours if rates[h] >= max(2 * base_rate, 0.005)]
            if not hours:
                continue
            peak = max(hours, key=lambda h: errs[h])
            related = []
            for agg in notable:
                if agg.level in ERROR_LEVELS and agg.workloads.get(svc):
                    n = sum(agg.hours[h] for h in hours)
                    if n:
                        related.append((n, agg))
            related.sort(key=lambda x: -x[0])
            mentioned = sorted({w for _, a in related[:5] for w in mentions[a.tid] if w != svc})
            start_bin = min(hours) * 12
            bins = self.svc_error_bins[svc]
            first_bin = next((i for i in range(start_bin, DAY_BINS) if bins[i]), start_bin)
            last_bin = max(
                (i for i in range(DAY_BINS) if bins[i] and i // 12 <= max(hours)), default=first_bin
            )
            n_spike = sum(errs[h] for h in hours)
            ns = self.svc_ns.get(svc, "")
            ranges = [f"{a:02d}:00-{b:02d}:59" for a, b in contiguous(hours)]
            sev = "high" if rates[peak] >= 0.1 or errs[peak] >= 100 else "medium"
            out.append(
                Finding(
                    kind=LogKind.BUSINESS,
                    category="error_spike",
                    severity=sev,
                    title=f"Error spike in {ns + '/' if ns else ''}{svc}: {errs[peak]} errors at {peak:02d}:00 "
                    f"(error rate {rates[peak]:.0%}, usual {base_rate:.1%})",
                    summary_zh=f"{svc} 在 {peak} 点错误激增，一小时 {errs[peak]} 条，错误率 {rates[peak]:.0%}。",
                    count=n_spike,
                    namespace=ns,
                    workload=svc,
                    template=clean_text(texts[related[0][1].tid], 300) if related else "",
                    first_ts=self.start + first_bin * 300,
                    last_ts=self.start + (last_bin + 1) * 300,
                    examples=[e for _, a in related[:2] for e in a.examples[:1]],
                    evidence={
                        "spike_hours": ranges,
                        "peak_hour": peak,
                        "peak_errors": errs[peak],
                        "peak_error_rate": round(rates[peak], 4),
                        "baseline_error_rate": round(base_rate, 4),
                        "top_templates": [
                            {"template": clean_text(texts[a.tid], 300), "count": n} for n, a in related[:3]
                        ],
                        "mentions": mentioned,
                    },
                )
            )
        return out

    def _template_finding(self, agg: Any, text: str, mentions: list[str], category: str) -> Finding:
        top = sorted(agg.workloads.items(), key=lambda kv: -kv[1])
        wl = top[0][0] if top else ""
        ns = max(agg.namespaces, key=agg.namespaces.__getitem__) if agg.namespaces else ""
        services = "、".join(w for w, _ in top[:3]) or "未知服务"
        return Finding(
            kind=LogKind.BUSINESS,
            category=category,
            severity=severity_by_count(agg.count) if agg.level in ERROR_LEVELS else "low",
            title=f"{agg.level} template x{agg.count} in {wl or 'unknown service'}: {clean_text(text, 160)}",
            summary_zh=f"{services} 共有 {agg.count} 条{_level_zh(agg.level)}日志。",
            count=agg.count,
            namespace=ns,
            workload=wl,
            template=clean_text(text, 500),
            first_ts=agg.first_ts,
            last_ts=agg.last_ts,
            examples=list(agg.examples),
            evidence={
                "level": agg.level,
                "levels": dict(agg.levels),
                "by_workload": dict(top[:5]),
                "hours": list(agg.hours),
                "mentions": mentions,
            },
        )


def _level_zh(level: str) -> str:
    return {"WARN": "告警", "ERROR": "错误", "FATAL": "致命错误"}.get(level, "")
