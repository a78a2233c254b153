"""What the console reads and calls: the running service's parts, each optional so a page can say
"not available" instead of failing when a part is not wired (e.g. the notify service)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from agents.sources.base import LogSource
    from server.auth.devices import DeviceCredentials
    from server.cases.service import CaseService
    from server.config import Settings
    from server.dialogue.reports import ReportStore
    from server.notify.service import NotifyService
    from server.schedules.runner import ScheduleRunner
    from server.voice.registry import DeviceRegistry
    from server.voiceprint.store import VoiceprintStore


@dataclass
class ConsoleServices:
    settings: Settings
    reports: ReportStore
    registry: DeviceRegistry
    cases: CaseService | None = None
    notify: NotifyService | None = None
    voiceprints: VoiceprintStore | None = None
    devices: DeviceCredentials | None = None
    schedules: ScheduleRunner | None = None  # spoken schedules (server/schedules)
    log_source: Callable[[str], LogSource | None] | None = None  # an owner's logs (bound keys or local)
    owner_names: Callable[[], list[str]] | None = None
    started_at: datetime | None = None
    # the robot's TTS (text, sample rate → int16 PCM): the summary's play button and test announcements
    synthesize: Callable[[str, int], Awaitable[np.ndarray]] | None = None
    fallbacks: Callable[[], dict[str, str]] = field(default=lambda: {})
