"""Dedup and aggregation decisions, kept in memory so intake needs no reads per alert.

* one open alert per fingerprint: a repeat notification bumps its count instead of adding a row;
* one open group per resource (``Alert.group_key``: pods roll up to their workload): a new group is what opens a
  case; later alerts for the same resource join it as children;
* more than ``threshold`` notifications for one resource within ``window_s`` seconds mark the group aggregated (an
  alert storm): it stays one case, and the storm is noted once;
* a resolved notification closes its alert; when a group has no firing child left, the group resolves.

The state is rebuilt from the database at start-up (``load``) and after a failed write.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from server.alerts.models import Alert

DEFAULT_WINDOW_S = 60.0
DEFAULT_THRESHOLD = 20


@dataclass
class OpenAlert:
    id: str
    fingerprint: str
    group_id: str
    count: int


@dataclass
class OpenGroup:
    id: str
    group_key: str
    firing: set[str] = field(default_factory=set)  # fingerprints of firing children
    alert_count: int = 0
    child_count: int = 0
    aggregated: bool = False
    window: deque[float] = field(default_factory=deque)  # receive times of recent notifications
    row: dict[str, Any] = field(
        default_factory=dict
    )  # last written DB row (owner, title, case_id...): no reads


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Literal["new_alert", "repeat", "resolved", "orphan_resolved"]
    alert_id: str | None
    group_id: str | None
    new_group: bool = False
    storm_started: bool = False
    group_resolved: bool = False


def new_id() -> str:
    return uuid.uuid4().hex


class Aggregator:
    def __init__(self, *, window_s: float = DEFAULT_WINDOW_S, threshold: int = DEFAULT_THRESHOLD) -> None:
        if window_s <= 0 or threshold < 1:
            raise ValueError("window_s must be > 0 and threshold >= 1")
        self.window_s = window_s
        self.threshold = threshold
        self.alerts: dict[str, OpenAlert] = {}  # fingerprint -> open alert
        self.groups: dict[str, OpenGroup] = {}  # group_key -> open group
        self._groups_by_id: dict[str, OpenGroup] = {}

    def load(self, firing_rows: list[Any], open_group_rows: list[Any]) -> None:
        """Rebuild from DB rows (``AlertStore.open_state``)."""
        self.alerts.clear()
        self.groups.clear()
        self._groups_by_id.clear()
        for g in open_group_rows:
            group = OpenGroup(
                id=g.id,
                group_key=g.group_key,
                alert_count=g.alert_count,
                child_count=g.child_count,
                aggregated=bool(g.aggregated),
                row=dict(g._mapping),
            )
            self.groups[g.group_key] = group
            self._groups_by_id[g.id] = group
        for a in firing_rows:
            owner_group = self._groups_by_id.get(a.group_id)
            if owner_group is None:
                continue  # a firing row whose group was closed by hand; the next notification regroups it
            self.alerts[a.fingerprint] = OpenAlert(a.id, a.fingerprint, a.group_id, a.count)
            owner_group.firing.add(a.fingerprint)

    def group(self, group_id: str) -> OpenGroup | None:
        return self._groups_by_id.get(group_id)

    def apply(self, alert: Alert, now: float) -> Outcome:
        """Decide what one notification means and update the in-memory state accordingly."""
        if alert.status == "resolved":
            return self._resolve(alert)
        open_alert = self.alerts.get(alert.fingerprint)
        if open_alert is not None:
            open_alert.count += 1
            group = self._groups_by_id[open_alert.group_id]
            storm = self._count(group, now)
            return Outcome("repeat", open_alert.id, group.id, storm_started=storm)

        found = self.groups.get(alert.group_key)
        new_group = found is None
        if found is None:
            found = OpenGroup(id=new_id(), group_key=alert.group_key)
            self.groups[alert.group_key] = found
            self._groups_by_id[found.id] = found
        group = found
        open_alert = OpenAlert(new_id(), alert.fingerprint, group.id, 1)
        self.alerts[alert.fingerprint] = open_alert
        group.firing.add(alert.fingerprint)
        group.child_count += 1
        storm = self._count(group, now)
        return Outcome("new_alert", open_alert.id, group.id, new_group=new_group, storm_started=storm)

    def _count(self, group: OpenGroup, now: float) -> bool:
        group.alert_count += 1
        group.window.append(now)
        horizon = now - self.window_s
        while group.window and group.window[0] < horizon:
            group.window.popleft()
        if not group.aggregated and len(group.window) > self.threshold:
            group.aggregated = True
            return True
        return False

    def _resolve(self, alert: Alert) -> Outcome:
        open_alert = self.alerts.pop(alert.fingerprint, None)
        if open_alert is None:
            return Outcome("orphan_resolved", None, None)  # never saw it firing, or already resolved
        group = self._groups_by_id.get(open_alert.group_id)
        resolved = False
        if group is not None:
            group.firing.discard(alert.fingerprint)
            if not group.firing:
                resolved = True
                self.groups.pop(group.group_key, None)
                # keep it addressable by id until the batch is written; ``forget`` drops it
        return Outcome("resolved", open_alert.id, open_alert.group_id, group_resolved=resolved)

    def forget_resolved(self) -> None:
        """Drop resolved groups from the id index (after their final state was written)."""
        live = {g.id for g in self.groups.values()}
        for gid in [gid for gid in self._groups_by_id if gid not in live]:
            del self._groups_by_id[gid]
