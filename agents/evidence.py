"""Per-(owner, day) evidence store: the *notable* records of a day, indexed for the alert tracer.

The nightly pipeline streams every record through `EvidenceWriter.add`; only a few percent are kept:

* business: WARN / ERROR / FATAL lines;
* k8s events: every Warning, plus Normal events about rollouts, scaling, killing and image pulls;
* k8s audit: mutating requests (create/update/patch/delete, minus lease/heartbeat churn), exec/attach,
  secret reads, RBAC, denied and failed requests. Image / replica / storage-class / RBAC details are read
  from the request object *here*, once, so the raw line can be truncated.

One plain SQLite file per (owner, day): ``<root>/evidence/<owner>/<day>.sqlite3``. It is built in a temp file
next to its final place and renamed on `close()`, so readers see the old store or the new one, never half of
one, and a rebuild replaces it whole (idempotent). Indexes are created after the bulk insert.

`EvidenceStore` answers `EvidenceQuery` with index queries (workload/object/kind + time range).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from agents.log_agents.audit import RBAC, decode_audit, images_in, is_system
from agents.log_agents.event import workload_of_object
from agents.owner_ids import owner_path_id
from agents.records import LogKind, LogRecord

SCHEMA_VERSION = 1
RAW_CHARS = 1500
MESSAGE_CHARS = 1000
CONFIG_CHARS = (
    2000  # a ConfigMap value kept whole up to this size, so a change can be undone from the audit log
)
BATCH = 5000

NOTABLE_LEVELS = frozenset({"WARN", "ERROR", "FATAL"})
# Normal events that tell a rollout / scaling / restart / image story (the rest of Normal is noise).
NORMAL_REASONS = frozenset(
    {"ScalingReplicaSet", "SuccessfulCreate", "SuccessfulDelete", "SuccessfulRescale", "Killing", "Pulling",
     "Pulled", "Preempting", "NotTriggerScaleUp", "TriggeredScaleUp", "ScaleDown", "DeploymentRollback",
     "DeploymentRollout", "NodeNotReady", "Rebooted", "OOMKilling", "SystemOOM", "Evicted", "Drain"}
)  # fmt: skip
MUTATING = frozenset(
    {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate"}
)
EXEC_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
# Mutations that happen every few seconds and say nothing about a change (heartbeats, self-reviews).
CHURN_RESOURCES = frozenset(
    {"leases", "events", "tokenreviews", "subjectaccessreviews", "selfsubjectaccessreviews",
     "selfsubjectrulesreviews", "localsubjectaccessreviews", "endpointslices", "endpoints", "nodes"}
)  # fmt: skip
CHANGE_RESOURCES = frozenset(
    {"deployments", "statefulsets", "daemonsets", "replicasets", "cronjobs", "jobs", "configmaps", "secrets",
     "horizontalpodautoscalers", "services", "ingresses", "persistentvolumeclaims"}
)  # fmt: skip

COLUMNS = (
    "ts", "kind", "level", "namespace", "workload", "pod", "object", "user", "reason", "verb", "resource",
    "host", "tid", "message", "raw", "detail",
)  # fmt: skip
_INSERT = f"INSERT INTO evidence ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_SCHEMA = """
CREATE TABLE evidence (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL, kind TEXT NOT NULL, level TEXT NOT NULL,
    namespace TEXT NOT NULL, workload TEXT NOT NULL, pod TEXT NOT NULL, object TEXT NOT NULL, user TEXT NOT NULL,
    reason TEXT NOT NULL,   -- event reason | audit category (change, delete, exec, secret_read, rbac, denied, failed)
    verb TEXT NOT NULL,     -- audit verb
    resource TEXT NOT NULL, -- audit resource | event involved-object kind
    host TEXT NOT NULL,     -- event source host (node) | business host when known
    tid INTEGER NOT NULL,   -- template id from the day's miner (-1 when unknown)
    message TEXT NOT NULL, raw TEXT NOT NULL,
    detail TEXT NOT NULL    -- JSON: images, replicas, subresource, code, count, role, subjects, …
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_INDEXES = (
    "CREATE INDEX ix_workload ON evidence (workload, kind, ts)",
    "CREATE INDEX ix_object ON evidence (object, ts)",
    "CREATE INDEX ix_kind_ts ON evidence (kind, ts)",
)


class EvidenceError(Exception):
    """Evidence could not be read (missing/corrupt store, cloud query refused). Never carries secrets."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Evidence:
    ts: float
    kind: str
    level: str
    namespace: str
    workload: str
    pod: str
    object: str
    user: str
    reason: str
    verb: str
    resource: str
    host: str
    tid: int
    message: str
    raw: str
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Evidence:
        values = list(row)
        values[-1] = json.loads(values[-1]) if values[-1] else {}
        return cls(*values)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass(frozen=True)
class EvidenceQuery:
    """One question to an evidence provider. Subject terms (workloads / objects / prefixes) are OR-ed."""

    kind: str
    start: float
    end: float  # exclusive
    namespace: str | None = None
    workloads: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    object_prefixes: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    text: str = ""  # substring of the message
    exclude_workloads: tuple[str, ...] = ()
    limit: int = 2000
    newest_first: bool = False  # with a limit: keep the latest rows rather than the earliest

    def has_subject(self) -> bool:
        return bool(self.workloads or self.objects or self.object_prefixes)

    def matches(self, ev: Evidence) -> bool:
        """The same predicate the SQL implements (used by providers that filter in Python)."""
        if ev.kind != self.kind or not (self.start <= ev.ts < self.end):
            return False
        if self.namespace is not None and ev.namespace != self.namespace:
            return False
        if self.has_subject() and not (
            ev.workload in self.workloads
            or ev.object in self.objects
            or any(ev.object.startswith(p) for p in self.object_prefixes)
        ):
            return False
        if self.levels and ev.level not in self.levels:
            return False
        if self.reasons and ev.reason not in self.reasons:
            return False
        if self.text and self.text not in ev.message:
            return False
        return ev.workload not in self.exclude_workloads


class EvidenceProvider(Protocol):
    def query(self, q: EvidenceQuery) -> list[Evidence]: ...


# ---------------------------------------------------------------- record → row (the pipeline's hot path)


def _trunc(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _audit_category(rec: LogRecord) -> str:
    """Why an audit record is notable ('' = it is not)."""
    f = rec.fields
    verb = f.get("verb", "")
    res = f.get("resource", "")
    code = f.get("code", 0) or 0
    if f.get("decision") == "forbid" or code in (401, 403):
        return "denied"
    sub = f.get("subresource", "")
    if sub in EXEC_SUBRESOURCES:
        return "exec"
    if sub == "status":  # controllers reporting status: not a change anybody made
        return ""
    if verb in ("get", "list", "watch"):
        return "secret_read" if res == "secrets" and not is_system(rec.user) else ""
    if verb not in MUTATING or res in CHURN_RESOURCES:
        return ""
    if code >= 400:
        return "failed"
    if res in RBAC:
        return "rbac"
    if verb in ("delete", "deletecollection"):
        return "delete"
    return "change" if res in CHANGE_RESOURCES or not is_system(rec.user) else ""


def _audit_detail(rec: LogRecord, category: str) -> dict[str, Any]:
    f = rec.fields
    d: dict[str, Any] = {"code": f.get("code", 0)}
    if f.get("subresource"):
        d["subresource"] = f["subresource"]
    ips = f.get("source_ips") or []
    if ips:
        d["source_ip"] = str(ips[0])
    if f.get("user_agent"):
        d["user_agent"] = _trunc(str(f["user_agent"]), 120)
    if category not in ("change", "rbac"):
        return d
    ev = decode_audit(rec.raw) or {}
    body = ev.get("requestObject")
    if body is None:
        return d
    if isinstance(body, dict):
        spec = _obj(body.get("spec"))
        if "replicas" in spec and (
            f.get("subresource") == "scale" or set(body) == {"spec"} or set(spec) == {"replicas"}
        ):
            with contextlib.suppress(TypeError, ValueError):
                d["replicas"] = int(spec["replicas"])
        scs = [
            str(((t or {}).get("spec") or {}).get("storageClassName"))
            for t in spec.get("volumeClaimTemplates") or []
            if isinstance(t, dict) and ((t.get("spec") or {}).get("storageClassName"))
        ]
        if scs:
            d["storage_classes"] = scs[:5]
        if rec.fields.get("resource") == "configmaps" and isinstance(body.get("data"), dict):
            items = list(body["data"].items())[:30]
            d["config"] = {str(k)[:100]: _trunc(str(v), CONFIG_CHARS) for k, v in items}
            d["config_complete"] = len(body["data"]) <= 30 and all(
                len(str(v)) <= CONFIG_CHARS for _, v in items
            )
        if isinstance(_obj(spec).get("maxReplicas"), int):
            d["max_replicas"] = _obj(spec)["maxReplicas"]
        d.update(template_refs(body))
        role = body.get("roleRef")
        if isinstance(role, dict):
            d["role"] = str(role.get("name") or "")
            d["subjects"] = [
                f"{s.get('kind', '')}:{s.get('name', '')}"
                for s in body.get("subjects") or []
                if isinstance(s, dict)
            ][:10]
        if not rec.object.partition("/")[2] and isinstance(body.get("metadata"), dict):
            d["name"] = str(body["metadata"].get("name") or "")
    images = images_in(body)
    if images:
        d["images"] = images
    return d


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def template_refs(body: dict[str, Any]) -> dict[str, Any]:
    """What a workload's pod template points at, as Kubernetes records it: ConfigMaps, Secrets, the service
    account, and the containers' memory limits and probes (``{}`` when the body holds no pod template)."""
    pod = _obj(_obj(_obj(body.get("spec")).get("template")).get("spec"))
    if not pod:
        return {}
    cms: set[str] = set()
    secrets: set[str] = set()
    limits: dict[str, str] = {}
    probes: dict[str, str] = {}
    for vol in pod.get("volumes") or []:
        if isinstance(vol, dict):
            cm, sec = vol.get("configMap"), vol.get("secret")
            if isinstance(cm, dict) and cm.get("name"):
                cms.add(str(cm["name"]))
            if isinstance(sec, dict) and sec.get("secretName"):
                secrets.add(str(sec["secretName"]))
    for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        if not isinstance(c, dict):
            continue
        for src in c.get("envFrom") or []:
            if isinstance(src, dict):
                cm, sec = src.get("configMapRef"), src.get("secretRef")
                if isinstance(cm, dict) and cm.get("name"):
                    cms.add(str(cm["name"]))
                if isinstance(sec, dict) and sec.get("name"):
                    secrets.add(str(sec["name"]))
        for env in c.get("env") or []:
            vf = env.get("valueFrom") if isinstance(env, dict) else None
            if isinstance(vf, dict):
                cm, sec = vf.get("configMapKeyRef"), vf.get("secretKeyRef")
                if isinstance(cm, dict) and cm.get("name"):
                    cms.add(str(cm["name"]))
                if isinstance(sec, dict) and sec.get("name"):
                    secrets.add(str(sec["name"]))
        lim = _obj(_obj(c.get("resources")).get("limits"))
        if lim.get("memory"):
            limits[str(c.get("name") or "")] = str(lim["memory"])[:20]
        for key in ("readinessProbe", "livenessProbe", "startupProbe"):
            if isinstance(c.get(key), dict):
                probes[f"{c.get('name') or ''}.{key}"] = json.dumps(c[key], sort_keys=True)[:300]
    out: dict[str, Any] = {}
    refs = [f"configmaps/{n}" for n in sorted(cms)] + [f"secrets/{n}" for n in sorted(secrets)]
    if pod.get("serviceAccountName"):
        refs.append(f"serviceaccounts/{pod['serviceAccountName']}")
    if refs:
        out["refs"] = refs[:30]
    if limits:
        out["memory_limits"] = limits
    if probes:
        out["probes"] = probes
    return out


def evidence_row(rec: LogRecord, tid: int = -1) -> tuple[Any, ...] | None:
    """The store row for a notable record, or None. Cheap for the common, non-notable case."""
    kind = rec.kind
    level = rec.level
    if kind is LogKind.BUSINESS:
        if level not in NOTABLE_LEVELS:
            return None
        f = rec.fields
        detail: dict[str, Any] = {k: f[k] for k in ("trace_id", "code", "status", "error_code") if k in f}
        return (rec.ts, "business", level, rec.namespace, rec.workload, rec.pod, rec.object, rec.user, "", "", "",
                str(f.get("host") or ""), tid, _trunc(rec.message, MESSAGE_CHARS), _trunc(rec.raw, RAW_CHARS),
                json.dumps(detail, ensure_ascii=False) if detail else "")  # fmt: skip
    if kind is LogKind.EVENT:
        f = rec.fields
        reason = f.get("reason", "")
        if level not in NOTABLE_LEVELS and reason not in NORMAL_REASONS:
            return None
        obj_kind = rec.object.partition("/")[0]
        workload = rec.workload or workload_of_object(rec.object, set())
        detail = {"count": f.get("count", 1), "type": f.get("type", "")}
        if f.get("component"):
            detail["component"] = f["component"]
        return (rec.ts, "event", level, rec.namespace, workload, rec.pod, rec.object, rec.user, reason, "", obj_kind,
                str(f.get("host") or ""), tid, _trunc(rec.message, MESSAGE_CHARS), _trunc(rec.raw, RAW_CHARS),
                json.dumps(detail, ensure_ascii=False))  # fmt: skip
    category = _audit_category(rec)
    if not category:
        return None
    f = rec.fields
    detail = _audit_detail(rec, category)
    obj = rec.object
    if detail.get("name") and "/" not in obj:
        obj = f"{obj}/{detail['name']}"
    workload = rec.workload
    if (
        not workload
        and f.get("resource") in ("statefulsets", "deployments", "daemonsets")
        and detail.get("name")
    ):
        workload = detail["name"]
    return (rec.ts, "audit", level, rec.namespace, workload, rec.pod, obj, rec.user, category,
            str(f.get("verb", "")), str(f.get("resource", "")), "", tid, _trunc(rec.message, MESSAGE_CHARS),
            _trunc(rec.raw, RAW_CHARS), json.dumps(detail, ensure_ascii=False))  # fmt: skip


def to_evidence(rec: LogRecord, tid: int = -1) -> Evidence | None:
    row = evidence_row(rec, tid)
    return Evidence.from_row(row) if row is not None else None


# ---------------------------------------------------------------- writing


def store_path(root: Path | str, owner: str, day: str | date) -> Path:
    """Where the store of one (owner, day) lives: ``<root>/evidence/<owner>/<day>.sqlite3``."""
    owner_dir = owner_path_id(owner)  # InvalidOwnerName (a ValueError) for a name no owner can have
    day = day if isinstance(day, str) else day.isoformat()
    date.fromisoformat(day)
    return Path(root) / "evidence" / owner_dir / f"{day}.sqlite3"


class EvidenceWriter:
    """Streams notable records into a temp SQLite file; `close()` indexes it and renames it into place.

    ``with EvidenceWriter.for_day(root, owner, day) as w: w.add(rec)`` — an exception inside the block
    (or `abort()`) removes the temp file and leaves any previous store untouched.
    """

    def __init__(self, path: Path | str, *, owner: str = "", day: str = "", batch: int = BATCH) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.owner, self.day = owner, day
        self.batch = batch
        self.seen = 0
        self.kept: dict[str, int] = {"business": 0, "event": 0, "audit": 0}
        self._rows: list[tuple[Any, ...]] = []
        self._done = False
        self._db = sqlite3.connect(self.tmp, isolation_level=None)
        # a temp file that is renamed only when complete needs no journal or fsync per page
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)
        self._db.execute("BEGIN")

    @classmethod
    def for_day(cls, root: Path | str, owner: str, day: str | date) -> EvidenceWriter:
        day_s = day if isinstance(day, str) else day.isoformat()
        return cls(store_path(root, owner, day_s), owner=owner, day=day_s)

    def add(self, rec: LogRecord, tid: int = -1) -> bool:
        """Keep ``rec`` if it is notable; returns whether it was kept."""
        self.seen += 1
        row = evidence_row(rec, tid)
        if row is None:
            return False
        self._rows.append(row)
        self.kept[row[1]] += 1
        if len(self._rows) >= self.batch:
            self._flush()
        return True

    def add_many(self, records: Iterable[LogRecord], tids: Iterable[int] | None = None) -> None:
        if tids is None:
            for rec in records:
                self.add(rec)
        else:
            for rec, tid in zip(records, tids, strict=True):
                self.add(rec, tid)

    def _flush(self) -> None:
        if self._rows:
            self._db.executemany(_INSERT, self._rows)
            self._rows.clear()

    def close(self) -> Path:
        """Commit, index and atomically publish the store; returns its path."""
        if self._done:
            return self.path
        try:
            self._flush()
            for sql in _INDEXES:
                self._db.execute(sql)
            meta = {
                "schema_version": str(SCHEMA_VERSION),
                "owner": self.owner,
                "day": self.day,
                "built_at": datetime.now().astimezone().isoformat(timespec="seconds"),
                "records_seen": str(self.seen),
                **{f"kept_{k}": str(v) for k, v in self.kept.items()},
            }
            self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
            self._db.execute("COMMIT")
            self._db.execute("ANALYZE")
            self._db.close()
            os.replace(self.tmp, self.path)
            self._done = True
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop everything written so far; the previous store (if any) stays as it was."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(Exception):
            self._db.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    def __enter__(self) -> EvidenceWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def build_store(root: Path | str, owner: str, day: str, records: Iterable[LogRecord]) -> Path:
    """Build (or rebuild) one day's store from records in one go."""
    with EvidenceWriter.for_day(root, owner, day) as w:
        for rec in records:
            w.add(rec)
    return w.path


# ---------------------------------------------------------------- reading

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM evidence"


class EvidenceStore:
    """Read-only queries over one day's store."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise EvidenceError(f"no evidence store at {self.path.name}", code="NoStore")
        try:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self.meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise EvidenceError(
                f"evidence store {self.path.name} is unreadable: {exc}", code="BadStore"
            ) from None

    @classmethod
    def open_day(cls, root: Path | str, owner: str, day: str | date) -> EvidenceStore | None:
        path = store_path(root, owner, day)
        return cls(path) if path.is_file() else None

    def close(self) -> None:
        self._db.close()

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return int(self._db.execute("SELECT count(*) FROM evidence").fetchone()[0])
        return int(self._db.execute("SELECT count(*) FROM evidence WHERE kind = ?", (kind,)).fetchone()[0])

    def query(self, q: EvidenceQuery) -> list[Evidence]:
        common = ["kind = ?", "ts >= ?", "ts < ?"]
        args: list[Any] = [q.kind, q.start, q.end]
        if q.namespace is not None:
            common.append("namespace = ?")
            args.append(q.namespace)
        for col, values in (("level", q.levels), ("reason", q.reasons)):
            if values:
                common.append(f"{col} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        if q.text:
            common.append("instr(message, ?) > 0")
            args.append(q.text)
        if q.exclude_workloads:
            common.append(f"workload NOT IN ({', '.join('?' * len(q.exclude_workloads))})")
            args.extend(q.exclude_workloads)
        # one indexed statement per subject term (an OR across columns defeats the planner), merged by id
        subjects: list[tuple[str, list[Any]]] = []
        for w in q.workloads:
            subjects.append(("workload = ?", [w]))
        for o in q.objects:
            subjects.append(("object = ?", [o]))
        for p in q.object_prefixes:
            subjects.append(("object >= ? AND object < ?", [p, p + "\U0010ffff"]))
        if not subjects:
            subjects.append(("1", []))
        rows: dict[int, tuple[Any, ...]] = {}
        where = " AND ".join(common)
        order = "DESC" if q.newest_first else "ASC"
        for cond, extra in subjects:
            sql = f"SELECT id, {', '.join(COLUMNS)} FROM evidence WHERE {cond} AND {where} ORDER BY ts {order} LIMIT ?"
            try:
                for row in self._db.execute(sql, [*extra, *args, q.limit]):
                    rows[row[0]] = row[1:]
            except sqlite3.DatabaseError as exc:
                raise EvidenceError(f"evidence store {self.path.name}: {exc}", code="BadStore") from None
        return _limited([Evidence.from_row(r) for r in rows.values()], q)


class StoreSet:
    """The day stores covering a time window (an incident near midnight spans two days)."""

    def __init__(
        self,
        stores: list[EvidenceStore],
        missing: list[str] | None = None,
        *,
        owner: str = "",
        looked_at: str = "",
    ) -> None:
        self.stores = stores
        self.missing = missing or []
        self.owner = owner
        self.looked_at = looked_at  # where missing stores were looked for (said when there are no logs)

    @classmethod
    def for_window(
        cls, root: Path | str, owner: str, start: float, end: float, timezone: str = "Asia/Shanghai"
    ) -> StoreSet:
        tz = ZoneInfo(timezone)
        d, last = datetime.fromtimestamp(start, tz).date(), datetime.fromtimestamp(end, tz).date()
        stores, missing = [], []
        while d <= last:
            store = EvidenceStore.open_day(root, owner, d)
            if store is None:
                missing.append(d.isoformat())
            else:
                stores.append(store)
            d += timedelta(days=1)
        where = ", ".join(str(store_path(root, owner, m)) for m in missing)
        return cls(stores, missing, owner=owner, looked_at=where)

    def query(self, q: EvidenceQuery) -> list[Evidence]:
        out: list[Evidence] = []
        for store in self.stores:
            out.extend(store.query(q))
        return _limited(out, q)

    def close(self) -> None:
        for store in self.stores:
            store.close()


class MemoryEvidence:
    """An in-memory provider over a list of evidence (tests, and records fetched on demand)."""

    def __init__(self, items: Iterable[Evidence]) -> None:
        self.items = sorted(items, key=lambda e: e.ts)

    @classmethod
    def from_records(cls, records: Iterable[LogRecord]) -> MemoryEvidence:
        return cls(e for e in (to_evidence(r) for r in records) if e is not None)

    def query(self, q: EvidenceQuery) -> list[Evidence]:
        return _limited([e for e in self.items if q.matches(e)], q)


def _limited(items: list[Evidence], q: EvidenceQuery) -> list[Evidence]:
    """Apply the query's limit (earliest or latest rows) and return them in time order."""
    items.sort(key=lambda e: e.ts)
    return items[-q.limit :] if q.newest_first else items[: q.limit]


__all__ = [
    "Evidence",
    "EvidenceError",
    "EvidenceProvider",
    "EvidenceQuery",
    "EvidenceStore",
    "EvidenceWriter",
    "MemoryEvidence",
    "StoreSet",
    "build_store",
    "evidence_row",
    "store_path",
    "template_refs",
    "to_evidence",
]
