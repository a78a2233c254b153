"""Evidence gathering for one alarm window: the workload's errors and events, its pods' nodes, the changes people
and bots made in its namespace, denied requests, cluster DNS, and the services its errors name.

Everything a cause rule reads is here, already queried; rules never query. Log text is untrusted: it is matched
by pattern and quoted as evidence, and only names reduced to a safe alphabet reach sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from agents.evidence import Evidence, EvidenceError, EvidenceProvider, EvidenceQuery
from agents.parsers import workload_from_pod

ERROR_LEVELS = ("ERROR", "FATAL")
LOOKBACK_S = 2 * 3600.0  # a change this long before the first symptom can still be its cause
HISTORY_S = 24 * 3600.0  # how far back the previous content of a changed object is looked for
NODE_LINK_S = 900.0
_SAFE = re.compile(r"[^A-Za-z0-9._:/@+-]")
_IMAGE_RE = re.compile(r'image "([^"\s]{1,300})"')
# controllers acting on their own (not a change anybody made); other service accounts (ci-bot, argocd) are actors
_CONTROLLER = re.compile(r"^system:(?!serviceaccount:)|^system:serviceaccount:kube-system:")


def safe_name(text: str, limit: int = 80) -> str:
    """A name (workload, user, image, tag) reduced to a safe alphabet: log text never reaches prose unfiltered."""
    return _SAFE.sub("", text or "")[:limit]


def is_controller(user: str) -> bool:
    return not user or bool(_CONTROLLER.match(user))


def speakable_actor(user: str) -> str:
    """``system:serviceaccount:ci:ci-bot`` → ``ci-bot 服务账号``; ``kate@corp.com`` → ``kate``."""
    if user.startswith("system:serviceaccount:"):
        return f"{safe_name(user.rsplit(':', 1)[-1], 40)} 服务账号"
    return safe_name(user.split("@")[0], 40)


@dataclass
class Change:
    """One change somebody made (an audit record of a create/update/patch/delete)."""

    e: Evidence
    old_images: dict[str, str] = field(default_factory=dict)  # container → image before this change

    @property
    def ts(self) -> float:
        return self.e.ts

    @property
    def resource(self) -> str:
        return self.e.resource

    @property
    def name(self) -> str:
        return self.e.object.partition("/")[2].split("/")[0] or str(self.e.detail.get("name") or "")

    @property
    def object(self) -> str:
        return f"{self.resource}/{self.name}"

    @property
    def namespace(self) -> str:
        return self.e.namespace

    @property
    def user(self) -> str:
        return self.e.user

    @property
    def verb(self) -> str:
        return self.e.verb

    @property
    def images(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.e.detail.get("images") or {}).items()}

    @property
    def refs(self) -> list[str]:
        return [str(r) for r in self.e.detail.get("refs") or []]

    @property
    def subresource(self) -> str:
        return str(self.e.detail.get("subresource") or "")

    def detail(self, key: str) -> Any:
        return self.e.detail.get(key)


@dataclass
class Ctx:
    at: float
    namespace: str
    workload: str
    pod: str
    title: str
    tz: ZoneInfo
    window: tuple[float, float]
    own: list[Evidence] = field(default_factory=list)  # the workload's ERROR/FATAL lines in the window
    baseline: list[Evidence] = field(default_factory=list)  # its errors in the 3 h before
    events: list[Evidence] = field(default_factory=list)  # events on its pods / replicasets / HPA / PVCs
    hosts: list[str] = field(default_factory=list)  # nodes its pods ran on
    node_events: list[Evidence] = field(default_factory=list)  # events on Nodes in the window (all nodes)
    changes: list[Change] = field(default_factory=list)  # changes in its namespace, lookback .. window end
    history: list[Change] = field(default_factory=list)  # changes in its namespace over the day before
    denied: list[Evidence] = field(default_factory=list)  # denied requests in its namespace
    system_events: list[Evidence] = field(default_factory=list)  # kube-system events (cluster DNS…)
    upstream: dict[str, list[Evidence]] = field(default_factory=dict)  # named service → its events / changes
    callers: list[Evidence] = field(default_factory=list)  # other workloads' errors naming this one
    onset: float | None = None  # first symptom
    errors: list[str] = field(default_factory=list)

    # ---- helpers for rules

    @property
    def warnings(self) -> list[Evidence]:
        return [e for e in self.events if e.level != "INFO"]

    def own_matching(self, pattern: re.Pattern[str]) -> list[Evidence]:
        return [e for e in self.own if pattern.search(e.message)]

    def events_with(self, reasons: tuple[str, ...], text: str = "") -> list[Evidence]:
        return [e for e in self.events if e.reason in reasons and (not text or text in e.message)]

    def before_onset(self, slack: float = 120.0) -> list[Change]:
        """Changes made before the first symptom (and not long before it)."""
        return self.changes_before(self.onset if self.onset is not None else self.at, slack)

    def changes_before(self, t: float, slack: float = 120.0) -> list[Change]:
        """Changes made before ``t`` (a rule's first symptom), at most `LOOKBACK_S` earlier."""
        return [c for c in self.changes if t - LOOKBACK_S <= c.ts <= t + slack]

    def workload_refs(self) -> set[str]:
        """Objects the workload's pod template references, from any audit body of it seen that day."""
        refs: set[str] = set()
        for c in self.history + self.changes:
            if c.name == self.workload and c.resource in ("deployments", "statefulsets", "daemonsets"):
                refs.update(c.refs)
        return refs


def _text(e: Evidence) -> str:
    r = e.reason
    return e.message[len(r) + 2 :] if r and e.message.startswith(r + ": ") else e.message


class Asker:
    """Runs queries, counting them and keeping (not raising) provider errors."""

    def __init__(self, provider: EvidenceProvider) -> None:
        self.provider = provider
        self.n = 0
        self.ok = 0
        self.errors: list[str] = []
        self.last_error: EvidenceError | None = None

    def __call__(self, q: EvidenceQuery) -> list[Evidence]:
        self.n += 1
        try:
            rows = self.provider.query(q)
        except EvidenceError as exc:
            if str(exc) not in self.errors:
                self.errors.append(str(exc))
            self.last_error = exc
            return []
        self.ok += 1
        return rows


def gather(
    ask: Asker, at: float, namespace: str, workload: str, pod: str, title: str, tz: ZoneInfo,
    before: float, after: float,
) -> Ctx:  # fmt: skip
    t0, t1 = at - before, at + after
    w = workload or workload_from_pod(pod)
    ns = namespace or None
    ctx = Ctx(at, namespace, w, pod, title, tz, (t0, t1))
    if w:
        ctx.own = ask(EvidenceQuery("business", t0, t1, ns, workloads=(w,), levels=ERROR_LEVELS))
        ctx.baseline = ask(EvidenceQuery("business", t0 - 3 * 3600, t0, ns, workloads=(w,), levels=ERROR_LEVELS,
                                         limit=500))  # fmt: skip
        ctx.events = ask(EvidenceQuery("event", t0 - 600, t1, ns, workloads=(w,)))
        ctx.callers = ask(EvidenceQuery("business", t0, t1, None, levels=ERROR_LEVELS, text=w, exclude_workloads=(w,),
                                        limit=500))  # fmt: skip
    hosts = {e.host for e in ctx.events if e.host} | {e.host for e in ctx.own if e.host}
    ctx.hosts = sorted(hosts)
    ctx.node_events = ask(
        EvidenceQuery("event", t0 - NODE_LINK_S, t1, None, object_prefixes=("Node/",), limit=1000)
    )
    ctx.system_events = ask(EvidenceQuery("event", t0 - 600, t1, "kube-system", limit=1000))
    onsets = [e.ts for e in ctx.own[:1]] + [e.ts for e in ctx.warnings[:1]]
    ctx.onset = min(onsets) if onsets else None
    a0 = min(t0, (ctx.onset or at) - LOOKBACK_S)
    audit = ask(EvidenceQuery("audit", a0, t1, ns, reasons=("change", "delete", "rbac")))
    ctx.changes = [Change(e) for e in audit if not is_controller(e.user)]
    hist = ask(EvidenceQuery("audit", a0 - HISTORY_S, a0, ns, reasons=("change", "rbac"), limit=2000,
                             newest_first=True))  # fmt: skip
    ctx.history = [Change(e) for e in hist if not is_controller(e.user) or e.detail.get("refs")]
    ctx.denied = ask(EvidenceQuery("audit", t0 - 600, t1, ns, reasons=("denied",), limit=500))
    for c in ctx.changes:
        if c.images:
            c.old_images = previous_images(ask, ctx, c)
    return ctx


def previous_images(ask: Asker, ctx: Ctx, c: Change) -> dict[str, str]:
    """Container → image before change ``c``: an earlier change that set an image, else the kubelet's pulls."""
    out: dict[str, str] = {}
    for h in sorted(ctx.history + ctx.changes, key=lambda x: x.ts, reverse=True):
        if h.ts >= c.ts or h.name != c.name or h.resource != c.resource:
            continue
        for ctr, img in h.images.items():
            if ctr in c.images and ctr not in out and img != c.images[ctr]:
                out[ctr] = img
    if len(out) < len(c.images):
        pulls = ask(EvidenceQuery("event", c.ts - 12 * 3600, c.ts, c.namespace or None, workloads=(c.name,),
                                  reasons=("Pulled",), limit=50, newest_first=True))  # fmt: skip
        for e in reversed(pulls):
            m = _IMAGE_RE.search(e.message)
            if not m:
                continue
            img = m.group(1)
            repo = _repo(img)
            for ctr, new in c.images.items():
                if ctr not in out and repo == _repo(new) and img != new:
                    out[ctr] = img
    return out


def _repo(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return image.rsplit(":", 1)[0] if ":" in last else image


def event_text(e: Evidence) -> str:
    return _text(e)


__all__ = [
    "ERROR_LEVELS", "LOOKBACK_S", "Asker", "Change", "Ctx", "event_text", "gather", "is_controller",
    "previous_images", "safe_name", "speakable_actor",
]  # fmt: skip
