"""Evidence for the alert tracer straight from CLS ``SearchLog`` (today's live incident, before the nightly run).

Implements `agents.evidence.EvidenceProvider`: each `EvidenceQuery` becomes one or more CQL queries on the
kind's topic (namespace / workload / level terms; one query per level or subject, since a query is an AND of
terms), the results go through the same parsers and the same "notable" filter as the nightly store
(`agents.evidence.to_evidence`), and the query's predicate is re-applied in Python, so both providers answer a
query with the same rows.

Field names of business logs vary per application: `ClsFieldMap` says which keys hold the namespace, the
service and the level (defaults: the TKE collector's ``__TAG__`` keys are not assumed; the app's own JSON
fields ``namespace``/``service``/``level`` are). Event and audit topics are searched by quoted full-text terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, tzinfo

from agents.evidence import Evidence, EvidenceError, EvidenceQuery, to_evidence
from agents.records import LogKind
from agents.sources.base import RetryPolicy, SourceError
from agents.sources.cls import MAX_PER_QUERY, ClsCredentials, ClsSearch


@dataclass(frozen=True)
class ClsTopics:
    business: str = ""
    event: str = ""
    audit: str = ""


@dataclass(frozen=True)
class ClsFieldMap:
    """Keys of the business topic used in CQL key:value terms ("" = use a full-text term instead)."""

    namespace: str = "namespace"
    workload: str = "service"
    level: str = "level"


def quote(value: str) -> str:
    """A CQL phrase: double-quoted, with backslashes and quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _subject_terms(q: EvidenceQuery) -> list[str]:
    """One full-text term per subject (workload, object name, object prefix name)."""
    terms = list(q.workloads)
    terms += [o.partition("/")[2] or o for o in q.objects]
    terms += [p.partition("/")[2] or p for p in q.object_prefixes]
    return [t for t in dict.fromkeys(terms) if t]


def build_cql(q: EvidenceQuery, fields: ClsFieldMap = ClsFieldMap()) -> list[str]:
    """The CQL query strings answering ``q`` (their union, filtered by ``q.matches``, is the answer)."""
    base: list[str] = []
    business = q.kind == LogKind.BUSINESS.value
    if q.namespace:
        base.append(
            f"{fields.namespace}:{quote(q.namespace)}"
            if business and fields.namespace
            else quote(q.namespace)
        )
    if q.text:
        base.append(quote(q.text))
    subjects: list[list[str]] = [[]]
    if business and q.workloads and fields.workload:
        subjects = [[f"{fields.workload}:{quote(w)}"] for w in q.workloads]
    elif q.has_subject():
        subjects = [[quote(t)] for t in _subject_terms(q)]
    variants: list[list[str]] = [[]]
    if business and q.levels and fields.level:
        variants = [[f"{fields.level}:{quote(level)}"] for level in q.levels]
    elif q.kind == LogKind.EVENT.value and q.reasons:
        variants = [[quote(r)] for r in q.reasons]
    out = []
    for s in subjects:
        for v in variants:
            terms = base + s + v
            out.append(" AND ".join(terms) if terms else "*")
    return list(dict.fromkeys(out))


class ClsEvidenceProvider:
    def __init__(self, search: ClsSearch, topics: ClsTopics, fields: ClsFieldMap | None = None) -> None:
        self.search = search
        self.topics = topics
        self.fields = fields or ClsFieldMap()
        self.queries: list[str] = []  # the CQL sent, for logs and tests (never holds credentials)

    @classmethod
    def connect(
        cls,
        creds: ClsCredentials,
        topics: ClsTopics,
        *,
        fields: ClsFieldMap | None = None,
        tz: tzinfo = UTC,
        retry: RetryPolicy | None = None,
    ) -> ClsEvidenceProvider:
        return cls(ClsSearch(creds, tz=tz, retry=retry), topics, fields)

    def query(self, q: EvidenceQuery) -> list[Evidence]:
        topic = getattr(self.topics, q.kind, "")
        if not topic:
            return []
        from_ms, to_ms = math.floor(q.start * 1000), math.ceil(q.end * 1000)
        limit = max(1, min(q.limit, MAX_PER_QUERY))
        seen: set[tuple[float, str, str]] = set()
        out: list[Evidence] = []
        for cql in build_cql(q, self.fields):
            self.queries.append(cql)
            try:
                records = self.search.search(topic, cql, from_ms, to_ms, limit, kind=q.kind,
                                             sort="desc" if q.newest_first else "asc")  # fmt: skip
            except SourceError as exc:  # already free of secrets (ClsSearch masks them)
                raise EvidenceError(str(exc), code=exc.code) from None
            for rec in records:
                ev = to_evidence(rec)
                if ev is None or not q.matches(ev):
                    continue
                key = (ev.ts, ev.object or ev.workload, ev.message)
                if key not in seen:
                    seen.add(key)
                    out.append(ev)
        out.sort(key=lambda e: e.ts)
        return out[-q.limit :] if q.newest_first else out[: q.limit]


__all__ = ["ClsEvidenceProvider", "ClsFieldMap", "ClsTopics", "build_cql", "quote"]
