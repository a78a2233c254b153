"""Per-connection message and byte rate limits for device sockets.

A device gets two token buckets: messages per second and bytes per second, each with two seconds of
burst (a wake word sends ~33 pre-roll frames at once). Over budget, the receive loop waits before it
reads the next frame, so the flooder is slowed by TCP back-pressure and costs the server no CPU. A device
that stays over budget for ``close_after_s`` seconds of such waiting (without ever catching up) is closed
with 1008. Real clients stay far below the defaults: 60 ms Opus is ~17 frames/s and ~2 KB/s, 20 ms frames
(py-xiaozhi) 50 frames/s, raw 16 kHz PCM (xiaozhi-sdk's pcm mode) 32 KB/s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

CLOSE_RATE_LIMIT = 1008  # policy violation
RATE_LIMIT_REASON = "rate limit exceeded"


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float
    tokens: float = -1.0
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def charge(self, amount: float, now: float) -> float:
        """Take ``amount``; return the seconds to wait until the bucket is back at zero (0 if none)."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= amount
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    @property
    def full(self) -> bool:
        return self.tokens >= self.burst


@dataclass(frozen=True)
class Verdict:
    wait_s: float  # sleep this long before reading the next frame
    close: bool  # over budget for too long: close with CLOSE_RATE_LIMIT


class ConnectionLimiter:
    """Budgets of one connection. ``charge(nbytes)`` per received frame.

    "Over budget for too long" is wall-clock time since the device first had to be slowed, so a server
    starved of CPU (reading less than the budget) still closes a flooder on time. It is forgiven only
    once both buckets are full again, i.e. after it stayed within budget for the whole burst window."""

    def __init__(
        self,
        msgs_per_s: float,
        bytes_per_s: float,
        close_after_s: float,
        *,
        burst_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = msgs_per_s > 0 and bytes_per_s > 0
        now = clock()
        self.msgs = TokenBucket(max(msgs_per_s, 1e-9), max(msgs_per_s * burst_s, 1.0), updated=now)
        self.bytes = TokenBucket(max(bytes_per_s, 1e-9), max(bytes_per_s * burst_s, 1.0), updated=now)
        self.close_after_s = close_after_s
        self.clock = clock
        self.over_since: float | None = None  # when the device first had to be slowed (None: within budget)
        self.throttle_events = 0

    @property
    def throttled_s(self) -> float:
        return 0.0 if self.over_since is None else self.clock() - self.over_since

    def charge(self, nbytes: int) -> Verdict:
        if not self.enabled:
            return Verdict(0.0, False)
        now = self.clock()
        full_before = self.msgs.tokens + (now - self.msgs.updated) * self.msgs.rate >= self.msgs.burst and (
            self.bytes.tokens + (now - self.bytes.updated) * self.bytes.rate >= self.bytes.burst
        )
        if full_before:
            self.over_since = None  # stayed within budget for a whole burst window: forgiven
        wait = max(self.msgs.charge(1, now), self.bytes.charge(nbytes, now))
        if wait <= 0:
            return Verdict(0.0, False)
        self.throttle_events += 1
        if self.over_since is None:
            self.over_since = now
        return Verdict(wait, now + wait - self.over_since > self.close_after_s)
