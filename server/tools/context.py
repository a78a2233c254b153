"""What the tools can reach: settings, reports, the vector index, devices, alerts and cases.

Alerts, cases and the index are optional: a tool whose backing service is missing answers with a clear
tool error instead of failing the whole server (the stdio server runs without devices, for example).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from server.config import Settings
from server.dialogue.reports import ReportStore
from server.voice.registry import DeviceRegistry

if TYPE_CHECKING:
    from agents.index.store import LogIndex
    from server.alerts.service import AlertService
    from server.cases.service import CaseService

log = logging.getLogger(__name__)


class ApprovalGate(Protocol):
    """Answers whether ``approver`` passed the spoken challenge ``challenge_id`` for ``case_id``.

    Fed by the voice approval flow (voiceprint + random digits). Without a gate no approval can pass the
    case FSM's challenge guard, which is the point: a tool call alone never approves anything."""

    def challenge_passed(self, challenge_id: str, approver: str, case_id: int) -> bool: ...


@dataclass
class ToolContext:
    settings: Settings
    reports: ReportStore
    registry: DeviceRegistry = field(default_factory=DeviceRegistry)
    index: LogIndex | None = None
    alerts: AlertService | None = None
    cases: CaseService | None = None
    approvals: ApprovalGate | None = None
    started_at: float = field(default_factory=time.time)
    open_index_lazily: bool = True  # open settings.chroma_path on first search if no index was given
    _index_tried: bool = field(default=False, repr=False)
    _index_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> ToolContext:
        return cls(settings=settings, reports=ReportStore(settings.results_dir), **kw)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def today(self) -> date:
        return datetime.now(self.tz).date()

    def default_day(self, owner: str) -> str:
        """The newest day with a report for ``owner``, else yesterday."""
        days = self.reports.days(owner)
        return days[0] if days else (self.today() - timedelta(days=1)).isoformat()

    def get_index(self) -> LogIndex | None:
        """The vector index, opened on first use from ``settings.chroma_path`` if it exists (blocking:
        call from a thread). None when there is none or it cannot be opened; searches then fall back to
        the day's findings and templates."""
        if self.index is not None or not self.open_index_lazily:
            return self.index
        with self._index_lock:
            if self.index is None and not self._index_tried:
                self._index_tried = True
                path = self.settings.chroma_path
                if path.is_dir() and any(path.iterdir()):
                    try:
                        from agents.index.store import LogIndex

                        self.index = LogIndex(path)
                    except Exception as exc:
                        log.warning("vector index at %s unavailable, using findings search: %s", path, exc)
        return self.index
