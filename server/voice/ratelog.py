"""Rate-limited logging: the same message from one source is summarised, never repeated per frame.

A device that sends junk 10 000 times a second must not write 10 000 log lines a second (one connection
once wrote 2 GB in 31 s). Each (source, message template) pair has a token bucket: the first ``burst``
lines pass, then one per ``1 / per_s`` seconds. Suppressed lines are counted; the count is reported on
the next line that passes for that key, and ``flush()`` (called periodically and when a source goes away)
writes one ``suppressed N similar messages`` line for every key that still has a count. A second, wider
bucket per template bounds what many sources together can write.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float
    suppressed: int = 0
    first_suppressed: float = 0.0
    sources: int = 0  # forgotten sources whose counts were added here (template buckets)


class RateLimitedLog:
    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 3,
        per_s: float = 0.1,
        template_burst: int = 30,
        template_per_s: float = 2.0,
        max_keys: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.burst = burst
        self.per_s = per_s
        self.template_burst = template_burst
        self.template_per_s = template_per_s
        self.max_keys = max_keys
        self.clock = clock
        self._keys: OrderedDict[tuple[Hashable, str], _Bucket] = OrderedDict()
        self._templates: dict[str, _Bucket] = {}
        self.suppressed_total = 0

    # ---- buckets

    def _take(self, bucket: _Bucket, burst: int, per_s: float, now: float) -> bool:
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * per_s)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False

    def _bucket(self, key: tuple[Hashable, str], now: float) -> _Bucket:
        bucket = self._keys.get(key)
        if bucket is None:
            if len(self._keys) >= self.max_keys:  # forget the oldest key; its count goes to its template
                self._retire(*self._keys.popitem(last=False))
            bucket = self._keys[key] = _Bucket(float(self.burst), now)
        else:
            self._keys.move_to_end(key)
        return bucket

    def _template(self, msg: str, now: float) -> _Bucket:
        template = self._templates.get(msg)
        if template is None:
            if len(self._templates) >= self.max_keys:
                self._templates.clear()
            template = self._templates[msg] = _Bucket(float(self.template_burst), now)
        return template

    def _retire(self, key: tuple[Hashable, str], bucket: _Bucket) -> None:
        if bucket.suppressed:
            template = self._template(key[1], bucket.first_suppressed)
            if not template.suppressed:
                template.first_suppressed = bucket.first_suppressed
            template.suppressed += bucket.suppressed
            template.sources += 1

    # ---- logging

    def log(self, level: int, source: Hashable, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log ``msg % args`` unless (source, msg) is over its budget. Returns whether it was written."""
        if not self.logger.isEnabledFor(level):
            return False
        now = self.clock()
        bucket = self._bucket((source, msg), now)
        template = self._template(msg, now)
        if not self._take(bucket, self.burst, self.per_s, now):
            if bucket.suppressed == 0:
                bucket.first_suppressed = now
            bucket.suppressed += 1
            self.suppressed_total += 1
            return False
        if not self._take(template, self.template_burst, self.template_per_s, now):
            if template.suppressed == 0:
                template.first_suppressed = now
            template.suppressed += 1
            self.suppressed_total += 1
            return False
        if bucket.suppressed:
            msg = msg + " (and %d similar from %s suppressed in the last %.0f s)"
            args = (*args, bucket.suppressed, source, now - bucket.first_suppressed)
            bucket.suppressed = 0
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, source: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, source, msg, *args)

    def info(self, source: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.INFO, source, msg, *args)

    def debug(self, source: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.DEBUG, source, msg, *args)

    # ---- summaries

    def forget(self, source: Hashable) -> None:
        """A source went away (a connection closed): its pending counts join its templates' totals, which
        the next ``flush()`` reports. Writes nothing, so thousands of short connections stay bounded."""
        for key in [k for k in self._keys if k[0] == source]:
            self._retire(key, self._keys.pop(key))

    def flush(self) -> int:
        """Write the pending ``suppressed N`` summaries: one line per (source, message) still pending and
        one per message template for sources already forgotten or over the template budget. Returns the
        number of lines written (at most one per live key plus one per template)."""
        now = self.clock()
        written = 0
        for (source, template), bucket in self._keys.items():
            if bucket.suppressed:
                self.logger.warning(
                    "suppressed %d similar messages from %s in the last %.0f s: %r",
                    bucket.suppressed, source, now - bucket.first_suppressed, template,
                )  # fmt: skip
                bucket.suppressed = 0
                written += 1
        for template, bucket in self._templates.items():
            if bucket.suppressed:
                self.logger.warning(
                    "suppressed %d similar messages (from %d closed or many sources) in the last %.0f s: %r",
                    bucket.suppressed, bucket.sources, now - bucket.first_suppressed, template,
                )  # fmt: skip
                bucket.suppressed = 0
                bucket.sources = 0
                written += 1
        return written
