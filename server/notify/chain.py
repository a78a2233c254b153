"""Send one notification down an ordered list of channels: retry a channel with backoff while its failure is
retryable, then fail over to the next; stop at the first channel that accepted it. Every try is logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from server.notify.channels import Channel
from server.notify.log import NotificationLog
from server.notify.models import Notification, SendOutcome, SendStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_s: float = 0.5
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        return self.base_s * self.factor**attempt


async def send_with_failover(
    note: Notification,
    channels: Sequence[Channel],
    notes_log: NotificationLog,
    retry: RetryPolicy = RetryPolicy(),
) -> list[SendOutcome]:
    """Outcomes per channel tried, in order; the last is SENT when any channel took the message."""
    outcomes: list[SendOutcome] = []
    for channel in channels:
        spec = channel.spec
        if not await asyncio.to_thread(notes_log.begin, note.case_id, note.rung, spec.name, spec.kind.value):
            log.info("case %s rung %s: %s already sent, not again", note.case_id, note.rung, spec.name)
            outcomes.append(SendOutcome(spec.name, spec.kind, SendStatus.SENT, "already sent", attempts=0))
            return outcomes
        outcome = await channel.send(note)
        attempt = 1
        while outcome.status is SendStatus.FAILED and outcome.retryable and attempt < retry.attempts:
            await asyncio.sleep(retry.delay(attempt - 1))
            outcome = await channel.send(note)
            attempt += 1
        outcome = replace(outcome, attempts=attempt)
        await asyncio.to_thread(notes_log.settle, note.case_id, note.rung, outcome)
        outcomes.append(outcome)
        if outcome.status is SendStatus.SENT:
            log.info("case %s rung %s: sent on %s", note.case_id, note.rung, spec.name)
            return outcomes
        log.warning(
            "case %s rung %s: channel %s failed after %d tries (%s); failing over",
            note.case_id,
            note.rung,
            spec.name,
            attempt,
            outcome.detail,
        )
    return outcomes
