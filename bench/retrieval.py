"""Retrieval benchmark: do Chinese spoken questions find the right English log templates?

    python -m bench.retrieval [--out bench/results/retrieval.json] [--threads 2]

Indexes the deterministic ~300-template corpus (bench/retrieval_corpus.py) into a fresh LogIndex twice,
without and with the Chinese gloss, and reports for the labelled queries (bench/data/retrieval_queries.json)
  hit@5     share of questions with at least one relevant template in the top 5,
  recall@5  mean of |relevant ∩ top5| / min(5, |relevant|),
separately for the dev split (may be looked at when editing the glossary) and the held-out split (not).
Also reports indexing time cold (empty embedding cache) and cached (the same templates on the next day),
and how many templates the default selection policy would embed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from agents.index import E5Embedder, LogIndex, select_templates
from bench.retrieval_corpus import build_corpus

QUERIES = Path(__file__).parent / "data" / "retrieval_queries.json"
OWNER, DAY1, DAY2 = "bench-owner", "2024-05-01", "2024-05-02"


def evaluate(index: LogIndex, corpus: list[dict[str, Any]], queries: list[dict[str, Any]]) -> dict[str, Any]:
    family = {t["id"]: t["family"] for t in corpus}
    size = {f: sum(1 for t in corpus if t["family"] == f) for f in set(family.values())}
    per_split: dict[str, dict[str, list[float]]] = {}
    misses = []
    for q in queries:
        hits = index.search(q["query"], k=5, owner=OWNER, day=DAY1)
        got = [family.get(h["key"], "?") for h in hits]
        relevant = set(q["relevant"])
        n_rel = sum(size[f] for f in relevant)
        found = sum(1 for f in got if f in relevant)
        m = per_split.setdefault(q["split"], {"hit": [], "recall": []})
        m["hit"].append(1.0 if found else 0.0)
        m["recall"].append(found / min(5, n_rel))
        if not found:
            misses.append({"query": q["query"], "split": q["split"], "top5": got})
    out: dict[str, Any] = {}
    for split, m in sorted(per_split.items()):
        out[split] = {
            "n": len(m["hit"]),
            "hit@5": round(sum(m["hit"]) / len(m["hit"]), 3),
            "recall@5": round(sum(m["recall"]) / len(m["recall"]), 3),
        }
    out["misses"] = misses
    return out


def run(threads: int) -> dict[str, Any]:
    corpus = build_corpus()
    queries = json.loads(QUERIES.read_text(encoding="utf-8"))["queries"]
    result: dict[str, Any] = {
        "templates": len(corpus),
        "queries": len(queries),
        "selected_by_default_policy": len(select_templates(corpus, 100)),
    }
    with tempfile.TemporaryDirectory(prefix="xops-bench-") as tmp:
        for gloss in (False, True):
            name = "with_gloss" if gloss else "without_gloss"
            embedder = E5Embedder(cache_dir=Path(tmp) / name, threads=threads)
            index = LogIndex(Path(tmp) / name, embedder, gloss=gloss, max_other_templates=10**6)
            cold = index.index_day(OWNER, DAY1, corpus, [])
            cached = index.index_day(OWNER, DAY2, corpus, [])
            t0 = time.monotonic()
            quality = evaluate(index, corpus, queries)
            per_query_ms = (time.monotonic() - t0) / len(queries) * 1000
            result[name] = {
                **quality,
                "index_cold_s": cold.seconds,
                "embedded_cold": cold.embedded,
                "texts_per_s_cold": round(cold.embedded / cold.seconds, 1) if cold.seconds else None,
                "index_cached_s": cached.seconds,
                "embedded_cached": cached.embedded,
                "search_ms_per_query": round(per_query_ms, 1),
            }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="also write the result as JSON here")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    result = run(args.threads)
    print(f"corpus: {result['templates']} templates, {result['queries']} queries")
    print(f"default selection policy would embed {result['selected_by_default_policy']} of them")
    for name in ("without_gloss", "with_gloss"):
        r = result[name]
        print(
            f"{name:14s} dev hit@5={r['dev']['hit@5']:.3f} recall@5={r['dev']['recall@5']:.3f} | "
            f"heldout hit@5={r['heldout']['hit@5']:.3f} recall@5={r['heldout']['recall@5']:.3f} | "
            f"index cold {r['index_cold_s']:.1f}s ({r['embedded_cold']} embedded, {r['texts_per_s_cold']}/s), "
            f"cached {r['index_cached_s']:.2f}s ({r['embedded_cached']} embedded), "
            f"search {r['search_ms_per_query']} ms/query"
        )
        for m in r["misses"]:
            print(f"    miss [{m['split']}] {m['query']} -> {m['top5']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
