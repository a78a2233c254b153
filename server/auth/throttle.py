"""Failed-authentication throttling per source address, with at most one log line per source per window.

After ``max_failures`` failures within ``window_s`` a source is locked out for ``lockout_s``: every request
from it is answered 429 without looking at its credentials, so guessing is limited to a few tries a minute.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class _Source:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    logged_at: float = float("-inf")
    suppressed: int = 0


class AuthThrottle:
    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_s: float = 60.0,
        lockout_s: float = 60.0,
        log_every_s: float = 60.0,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.log_every_s = log_every_s
        self.max_sources = max_sources
        self.clock = clock
        self._sources: OrderedDict[str, _Source] = OrderedDict()

    def retry_after(self, source: str) -> float:
        """Seconds this source must wait (0 = may try)."""
        entry = self._sources.get(source)
        if entry is None:
            return 0.0
        return max(0.0, entry.locked_until - self.clock())

    def failed(self, source: str, what: str) -> None:
        now = self.clock()
        entry = self._sources.pop(source, None) or _Source()
        self._sources[source] = entry  # most recent last; the oldest are evicted when full
        while len(self._sources) > self.max_sources:
            self._sources.popitem(last=False)
        entry.failures = [t for t in entry.failures if now - t < self.window_s] + [now]
        if len(entry.failures) >= self.max_failures:
            entry.locked_until = now + self.lockout_s
        if now - entry.logged_at >= self.log_every_s:
            more = f" (+{entry.suppressed} more since the last line)" if entry.suppressed else ""
            locked = ", locked out" if entry.locked_until > now else ""
            log.warning(
                "failed authentication from %s on %s: %d in the last %.0fs%s%s",
                source,
                what,
                len(entry.failures),
                self.window_s,
                locked,
                more,
            )
            entry.logged_at, entry.suppressed = now, 0
        else:
            entry.suppressed += 1

    def succeeded(self, source: str) -> None:
        entry = self._sources.get(source)
        if entry is not None and entry.locked_until <= self.clock():
            entry.failures.clear()
