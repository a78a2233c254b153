"""Keyword search over one day's findings and templates: the fallback when no vector index is open.

Pure functions. English log text gets the index's deterministic Chinese gloss, so a spoken Chinese
question ("镜像拉取失败") still finds "Failed to pull image"; Chinese is matched by character bigrams.
"""

from __future__ import annotations

import re
from typing import Any

from agents.index.gloss import with_gloss

_ASCII_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]+")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_STOP = frozenset("的了吗呢吧啊是在有和与把被") | {
    "日志",
    "什么",
    "怎么",
    "哪些",
    "一下",
    "为什么",
    "有没有",
}


def terms(query: str) -> list[str]:
    """ASCII words (lower-cased) and Chinese bigrams of a query, stop words removed."""
    out = [w.lower() for w in _ASCII_WORD.findall(query)]
    for run in _CJK_RUN.findall(query):
        if len(run) == 1:
            out.append(run)
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return [t for t in dict.fromkeys(out) if t not in _STOP]


def _doc_text(item: dict[str, Any]) -> str:
    parts = [
        str(item.get(k) or "")
        for k in ("title", "summary_zh", "template", "text", "namespace", "workload", "object", "user")
    ]
    return with_gloss(" ".join(p for p in parts if p)).lower()


def keyword_search(
    report: dict[str, Any],
    query: str,
    *,
    kind: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """Best-first hits among the report's findings and notable templates.

    Each hit: source ("finding" | "template"), score (fraction of query terms found), and the item.
    A time range keeps items whose [first_ts, last_ts] overlaps it (items without times are kept)."""
    qterms = terms(query)
    if not qterms:
        return []
    candidates = [("finding", f) for f in report.get("findings") or []]
    candidates += [("template", t) for t in report.get("templates") or []]
    hits: list[tuple[float, int, dict[str, Any]]] = []
    for source, item in candidates:
        if kind and item.get("kind") != kind:
            continue
        first = float(item.get("first_ts") or 0)
        last = float(item.get("last_ts") or first)
        if first and ((since is not None and last < since) or (until is not None and first > until)):
            continue
        text = _doc_text(item)
        matched = sum(1 for t in qterms if t in text)
        if matched == 0:
            continue
        hits.append((matched / len(qterms), int(item.get("count") or 0), {"source": source, **item}))
    hits.sort(key=lambda h: (-h[0], -h[1]))
    return [{**item, "score": round(score, 3)} for score, _, item in hits[:limit]]
