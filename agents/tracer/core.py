"""The tracer: evidence for the alarm window → ordered cause rules → a typed `Cause` → sentences → the undo.

1. Honest absence first: when there are no logs for the alarm's day (no evidence store, or a store built from
   0 lines), the result says so — which stores were looked for — and never claims "no errors".
2. Gather (`context.gather`), then the cause rules (`rules.RULES`) in order; the first that matches names the cause.
3. Nothing matched: the symptom tracer (`symptoms`) explains what the k8s layer and the business logs show.

No LLM: an LLM may only rephrase the result later.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agents.evidence import EvidenceError, EvidenceProvider, EvidenceQuery, MemoryEvidence, StoreSet
from agents.parsers import parse_line, workload_from_pod
from agents.records import LogKind, LogRecord
from agents.tracer import symptoms
from agents.tracer.context import Asker, Ctx, gather, safe_name
from agents.tracer.model import Cause, CauseKind, Undo, UndoKind
from agents.tracer.rules import CONN_RE, first_cause, named_services
from agents.tracer.speech import sentence_en, sentence_zh
from agents.tracer.symptoms import AFTER_S, BEFORE_S, AlertKeys, EvidenceLine, Trace, TraceStep

SPOKEN_MAX_CHARS = 150  # ≈ 30 s of Chinese speech


def absence(provider: EvidenceProvider, keys: AlertKeys, before: float, after: float) -> str | None:
    """Why there is nothing to reason over for this window (None when there are logs)."""
    if isinstance(provider, StoreSet):
        missing = list(provider.missing)
        empty = [
            s.path.name.removesuffix(".sqlite3") for s in provider.stores if s.meta.get("records_seen") == "0"
        ]
        have = [s for s in provider.stores if s.meta.get("records_seen") != "0"]
        if have:
            return None
        days = "、".join(missing + empty) or "这段时间"
        who = f"{provider.owner} 的 " if provider.owner else ""
        where = f"，查找位置 {provider.looked_at}" if provider.looked_at else ""
        return f"没有日志：{who}{days} 的日志没有读到{where}"
    if isinstance(provider, MemoryEvidence) and not provider.items:
        return "没有日志：这段时间没有读到任何日志"
    return None


def _no_logs(keys: AlertKeys, why: str, before: float, after: float) -> Trace:
    w = keys.workload or workload_from_pod(keys.pod)
    undo = Undo(UndoKind.MANUAL, keys.namespace, "", manual_zh="确认日志投递和路径配置，补齐日志后重新分析。")
    return Trace(
        keys=keys, window=(keys.at - before, keys.at + after), cause=CauseKind.NO_LOGS.value, found=False,
        confidence=0.0, root_cause_zh=f"{why}，无法判断原因，这不代表没有问题。",
        root_cause_en="No logs for this window: the cause cannot be traced (this is not an all-clear).",
        fix_zh="先确认日志是否已投递、路径配置是否正确，再重新分析。",
        fix_en="Check that the logs were delivered and the key template is right, then trace again.",
        namespace=keys.namespace, workload=w, undo=undo, rule="no_logs",
    )  # fmt: skip


def trace(
    keys: AlertKeys,
    provider: EvidenceProvider,
    *,
    before: float = BEFORE_S,
    after: float = AFTER_S,
    timezone: str = "Asia/Shanghai",
    follow_callee: bool = True,
) -> Trace:
    """Trace an alert to a cause. Raises `EvidenceError` only when no evidence could be read at all."""
    t_start = time.perf_counter()
    why = absence(provider, keys, before, after)
    if why is not None:
        return _no_logs(keys, why, before, after)
    tz = ZoneInfo(timezone)
    ask = Asker(provider)
    ctx = gather(ask, keys.at, keys.namespace, keys.workload, keys.pod, keys.title, tz, before, after)
    if ask.n and not ask.ok and ask.last_error is not None:
        raise EvidenceError(str(ask.last_error), code=ask.last_error.code)
    _gather_upstream(ask, ctx)
    hit = first_cause(ctx) if ctx.workload else None
    hop = (
        _via_callee(ask, keys, ctx, tz, before, after)
        if hit is None and follow_callee and ctx.workload
        else None
    )
    if hit is not None:
        rule, cause = hit
        result = _from_cause(keys, ctx, cause, rule.name)
    elif hop is not None:
        result = hop
    else:
        result = symptoms.trace(keys, provider, before=before, after=after, timezone=timezone,
                                follow_callee=follow_callee)  # fmt: skip
        result.undo = _undo_of(result)
        result.rule = "symptoms"
    result.errors = list(dict.fromkeys(ask.errors + result.errors))
    result.stats = {
        "queries": ask.n + result.stats.get("queries", 0),
        "seconds": round(time.perf_counter() - t_start, 4),
    }
    return result


def _via_callee(
    ask: Asker, keys: AlertKeys, ctx: Ctx, tz: ZoneInfo, before: float, after: float
) -> Trace | None:
    """The workload's new errors name another workload that has a cause of its own: that cause, one hop away
    (the plan then acts on the callee, the causal object — never on the alarmed caller)."""
    errors = _novel(ctx) or ctx.own
    if len(errors) < 2:
        return None
    text = " ".join(e.message for e in errors[:50])
    t0, t1 = ctx.window
    names: dict[str, str] = {}
    for kind in ("event", "audit"):
        for e in ask(EvidenceQuery(kind, t0 - 1800, t1, None, limit=500)):
            if e.workload and e.workload != ctx.workload:
                names.setdefault(e.workload, e.namespace)
    for name, ns in named_services(text):
        if name != ctx.workload:
            names.setdefault(name, ns)
    callees = sorted(
        (n for n in names if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text)), key=len, reverse=True
    )
    for callee in callees[:2]:
        sub = gather(ask, keys.at, names[callee], callee, "", keys.title, tz, before, after)
        _gather_upstream(ask, sub)
        hit = first_cause(sub)
        if hit is None:
            continue
        rule, cause = hit
        result = _from_cause(
            keys, sub, replace(cause, confidence=round(cause.confidence * 0.95, 3)), rule.name
        )
        w, c = safe_name(ctx.workload), safe_name(callee)
        result.root_cause_zh = f"{w} 的报错来自它调用的 {c}：" + result.root_cause_zh
        result.root_cause_en = f"{ctx.workload} fails because of {callee}: " + result.root_cause_en
        result.details["via_callee"] = callee
        result.chain.append(TraceStep("business", "callee", errors[0].ts, errors[-1].ts, len(errors),
                                      f"{ctx.workload} errors name {callee}", f"{w} 的报错指向 {c}",
                                      symptoms._examples(errors, 3)))  # fmt: skip
        result.chain.sort(key=lambda s: (s.ts, s.role != "change"))
        return result
    return None


def _gather_upstream(ask: Asker, ctx: Ctx) -> None:
    """Services named in refused connections: their own events and changes in the window."""
    names: dict[str, str] = {}
    for e in ctx.own:
        if CONN_RE.search(e.message):
            for name, ns in named_services(e.message):
                if name != ctx.workload:
                    names.setdefault(name, ns)
        if len(names) >= 3:
            break
    t0, t1 = ctx.window
    for name, ns in list(names.items())[:3]:
        rows = ask(EvidenceQuery("event", t0 - 1800, t1, ns or None, workloads=(name,), limit=300))
        rows += ask(EvidenceQuery("event", t0 - 1800, t1, None, object_prefixes=("Node/",), reasons=("OOMKilling",),
                                  text=f"({name.split('-')[-1]})", limit=100))  # fmt: skip
        rows += ask(EvidenceQuery("audit", t0 - 3600, t1, ns or None, workloads=(name,), object_prefixes=(f"pods/{name}",),
                                  reasons=("change", "delete"), limit=100))  # fmt: skip
        ctx.upstream[name] = sorted(rows, key=lambda e: e.ts)


def _novel(ctx: Ctx) -> list[Any]:
    """The workload's errors that are new in this window (not its usual background), in time order."""
    base: dict[str, int] = {}
    for e in ctx.baseline:
        k = symptoms._shape(e)
        base[k] = base.get(k, 0) + 1
    scale = (ctx.window[1] - ctx.window[0]) / (3 * 3600)
    groups = [g for g in symptoms._groups(ctx.own, symptoms._shape)
              if g.count >= 2 and g.count > 3 * base.get(g.key, 0) * scale + 1]  # fmt: skip
    return sorted((e for g in groups for e in g.items), key=lambda e: e.ts)


def _steps(keys: AlertKeys, ctx: Ctx, cause: Cause, zh: str, en: str) -> list[TraceStep]:
    """The causal chain in time order: the change, the k8s symptoms, node events, errors, callers' errors."""
    steps = [
        TraceStep(
            "alert", "alert", keys.at, keys.at, 1, f"Alert: {keys.title[:200]}", f"告警：{keys.title[:100]}"
        )
    ]
    change = next((c for c in ctx.changes if c.object == cause.object and c.ts == cause.when), None)
    if change is not None:
        steps.append(
            TraceStep("audit", "change", change.ts, change.ts, 1, en, zh, [EvidenceLine.of(change.e)])
        )
    warn = ctx.warnings
    if warn:
        reasons = ", ".join(sorted({e.reason for e in warn}))[:120]
        steps.append(TraceStep("event", "k8s", warn[0].ts, warn[-1].ts, len(warn),
                               f"{len(warn)} warning events for {ctx.workload} ({reasons})",
                               f"{safe_name(ctx.workload)} 告警事件 {len(warn)} 次", symptoms._examples(warn)))  # fmt: skip
    node_name = cause.object.partition("/")[2] if cause.object.startswith("Node/") else ""
    nodes = [e for e in ctx.node_events if e.level != "INFO" or e.reason in ("OOMKilling", "NodeNotReady")]
    nodes = [
        e for e in nodes if (node_name and node_name in e.object) or (not node_name and e.host in ctx.hosts)
    ]
    if nodes:
        steps.append(TraceStep("event", "node", nodes[0].ts, nodes[-1].ts, len(nodes),
                               f"{len(nodes)} events on node {', '.join(sorted({e.object.partition('/')[2] for e in nodes}))[:80]} "
                               f"({', '.join(sorted({e.reason for e in nodes}))[:80]})",
                               f"节点事件 {len(nodes)} 次", symptoms._examples(nodes, 3)))  # fmt: skip
    if change is None and not warn and not nodes:
        steps.append(TraceStep("event", "k8s", cause.when, cause.when, len(cause.evidence), en, zh,
                               [EvidenceLine(cause.when, "quote", "", cause.object, q) for q in cause.evidence]))  # fmt: skip
    new = _novel(ctx)
    if new:
        steps.append(TraceStep("business", "business", new[0].ts, new[-1].ts, len(new),
                               f"{len(new)} new business errors in {ctx.workload}",
                               f"{safe_name(ctx.workload)} 新出现业务报错 {len(new)} 条", symptoms._examples(new)))  # fmt: skip
    by_caller: dict[str, list[Any]] = {}
    for e in ctx.callers:
        by_caller.setdefault(e.workload or "?", []).append(e)
    for caller, rows in sorted(by_caller.items(), key=lambda kv: -len(kv[1]))[:3]:
        if len(rows) >= 2:
            steps.append(TraceStep("business", "callers", rows[0].ts, rows[-1].ts, len(rows),
                                   f"{len(rows)} errors in caller {safe_name(caller)} naming {ctx.workload}",
                                   f"调用方 {safe_name(caller)} 调用 {safe_name(ctx.workload)} 报错 {len(rows)} 条",
                                   symptoms._examples(rows, 3)))  # fmt: skip
    steps.sort(key=lambda s: (s.ts, s.role != "change"))
    return steps


def _from_cause(keys: AlertKeys, ctx: Ctx, cause: Cause, rule: str) -> Trace:
    zh, en = sentence_zh(cause), sentence_en(cause)
    steps = _steps(keys, ctx, cause, zh, en)
    rollback = None
    u = cause.undo
    if u.kind in (UndoKind.ROLLBACK_IMAGE, UndoKind.ROLLBACK_REVISION) and u.target.startswith(
        "deployments/"
    ):
        rollback = symptoms.RollbackTarget(
            namespace=u.namespace or ctx.namespace, deployment=u.target_name, image=u.image,
            bad_image=cause.slots.get("bad_image", ""), changed_by=safe_name(cause.actor, 100), changed_at=cause.when,
        )  # fmt: skip
    details: dict[str, Any] = {"object": cause.object, "rule": rule, **cause.slots}
    if cause.kind is CauseKind.CONFIG_CHANGE:
        details["configmap"] = cause.object_name
    if cause.kind is CauseKind.BAD_IMAGE:
        details["bad_tag"] = cause.slots.get("tag", "")
        details["bad_image"] = cause.slots.get("bad_image", "")
        details["old_image"] = cause.slots.get("old_image", "")
    if cause.kind is CauseKind.MISSING_STORAGE_CLASS:
        details["storage_class"] = cause.slots.get("sc", "")
    return Trace(
        keys=keys, window=ctx.window, cause=cause.kind.value, found=True, confidence=cause.confidence,
        root_cause_zh=zh, root_cause_en=en, fix_zh=u.manual_zh or "请人工排查。", fix_en=en, chain=steps,
        links={rule: cause.confidence}, rollback=rollback, namespace=ctx.namespace, workload=ctx.workload,
        changed_by=safe_name(cause.actor, 100), details=details, undo=u, cause_detail=cause, rule=rule,
    )  # fmt: skip


def _undo_of(t: Trace) -> Undo:
    """The undo of a symptom-tracer verdict: its rollback when it has one, else the manual fix in words."""
    rb = t.rollback
    if rb is not None:
        kind = UndoKind.ROLLBACK_IMAGE if rb.image else UndoKind.ROLLBACK_REVISION
        return Undo(kind, rb.namespace, f"deployments/{rb.deployment}", image=rb.image, manual_zh=t.fix_zh)
    target = f"deployments/{t.workload}" if t.found and t.workload else ""
    return Undo(UndoKind.MANUAL, t.namespace, target, manual_zh=t.fix_zh)


def trace_business_error(
    line: str | LogRecord,
    provider: EvidenceProvider,
    *,
    at: float | None = None,
    timezone: str = "Asia/Shanghai",
    **kwargs: Any,
) -> Trace:
    """Trace from one business error (a raw log line or a parsed record) instead of an alert."""
    rec = line
    if isinstance(line, str):
        got = parse_line(LogKind.BUSINESS, line, ZoneInfo(timezone))
        if not got:
            raise ValueError("not a business log line")
        rec = got[0]
    if not isinstance(rec, LogRecord):
        raise TypeError("trace_business_error needs a log line or a LogRecord")
    ts = at if at is not None else rec.ts
    if not ts:
        raise ValueError("the business error has no time; pass at=")
    keys = AlertKeys.build(
        ts, namespace=rec.namespace, workload=rec.workload, pod=rec.pod, title=rec.message[:300]
    )
    return trace(keys, provider, timezone=timezone, **kwargs)


def render_spoken(result: Trace, timezone: str = "Asia/Shanghai") -> list[str]:
    """Short Chinese sentences for the robot: what broke, why (who changed what), the fix, and the question."""
    if result.cause_detail is None and result.cause != CauseKind.NO_LOGS.value:
        return symptoms.render_spoken(result, timezone)
    tz = ZoneInfo(timezone)
    alerted = safe_name(result.keys.workload) or safe_name(result.workload) or "该服务"
    out = [f"{datetime.fromtimestamp(result.keys.at, tz).strftime('%H:%M')}，{alerted} 告警。"]
    if result.cause == CauseKind.NO_LOGS.value:  # spoken without the paths (they are in the case note)
        out.append(result.root_cause_zh.split("，查找位置")[0] + "，无法判断原因，这不代表没有问题。")
        out.append(result.fix_zh)
        return out
    out.append("原因：" + result.root_cause_zh)
    out.append("建议：" + result.fix_zh)
    if result.actionable:
        out.append("是否需要回滚？")
    excess = sum(len(s) for s in out) - SPOKEN_MAX_CHARS
    if excess > 0:
        out[2] = symptoms._shorten(out[2], max(20, len(out[2]) - excess))
    return out


def with_undo(result: Trace, undo: Undo) -> Trace:
    return replace(result, undo=undo)


__all__ = ["AFTER_S", "BEFORE_S", "absence", "render_spoken", "trace", "trace_business_error"]
