"""Runs stored schedules with APScheduler. The database is the source of truth: jobs are rebuilt from it at start,
each slot is claimed once in the database before it is announced (no double firing across a restart or two
processes), and a slot missed while the service was down is announced at start if it is recent (nothing lost)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from server.schedules.models import Schedule
from server.schedules.store import ScheduleStore

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

CATCH_UP = timedelta(minutes=30)  # a slot missed by less than this is announced when the service starts

# Announce a schedule's slot on its owner's robot; returns what happened (for the firing record).
Announce = Callable[[Schedule], Awaitable[str]]


def latest_slot(schedule: Schedule, now: datetime) -> datetime:
    """The most recent time ≤ now this schedule was due (its minute, on one of its weekdays)."""
    spec = schedule.spec
    day = now.replace(hour=spec.hour, minute=spec.minute, second=0, microsecond=0)
    for back in range(8):
        candidate = day - timedelta(days=back)
        if candidate <= now and candidate.weekday() in spec.weekdays:
            return candidate
    raise AssertionError("a schedule has at least one weekday")  # unreachable: weekdays is never empty


class ScheduleRunner:
    def __init__(self, store: ScheduleStore, announce: Announce, tz: tzinfo) -> None:
        self.store = store
        self.announce = announce
        self.tz = tz
        self._scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._scheduler = AsyncIOScheduler(timezone=self.tz)
        for schedule in self.store.active():
            self._add_job(schedule)
        self._scheduler.start()
        asyncio.get_running_loop().create_task(self.catch_up())

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    def _add_job(self, schedule: Schedule) -> None:
        from apscheduler.triggers.cron import CronTrigger

        if self._scheduler is None:
            return
        spec = schedule.spec
        trigger = CronTrigger(
            day_of_week=spec.cron_day_of_week(), hour=spec.hour, minute=spec.minute, timezone=self.tz
        )
        self._scheduler.add_job(
            self.fire,
            trigger,
            args=[schedule.id],
            id=f"schedule-{schedule.id}",
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=int(CATCH_UP.total_seconds()),
        )

    def added(self, schedule: Schedule) -> None:
        """A schedule was just created: run it from now on."""
        self._add_job(schedule)

    def cancelled(self, schedule_id: int) -> None:
        if self._scheduler is not None and self._scheduler.get_job(f"schedule-{schedule_id}") is not None:
            self._scheduler.remove_job(f"schedule-{schedule_id}")

    async def fire(self, schedule_id: int, now: datetime | None = None) -> str | None:
        """Announce the schedule's current slot unless someone already did. None when nothing was done."""
        schedule = await asyncio.to_thread(self.store.get, schedule_id)
        if schedule is None:
            return None
        slot = latest_slot(schedule, (now or datetime.now(self.tz)).astimezone(self.tz))
        key = slot.strftime("%Y-%m-%dT%H:%M")
        if not await asyncio.to_thread(self.store.claim_fire, schedule.id, key):
            return None
        try:
            outcome = await self.announce(schedule)
        except Exception as exc:  # the slot is claimed: record why it did not reach anyone
            log.exception("schedule %s at %s failed", schedule.id, key)
            outcome = f"failed: {type(exc).__name__}"
        await asyncio.to_thread(self.store.record_outcome, schedule.id, key, outcome)
        log.info("schedule %s (%s) at %s: %s", schedule.id, schedule.describe_zh(), key, outcome)
        return outcome

    async def catch_up(self, now: datetime | None = None) -> int:
        """Announce recent slots that no process announced (the service was down at the time)."""
        now = (now or datetime.now(self.tz)).astimezone(self.tz)
        done = 0
        for schedule in await asyncio.to_thread(self.store.active):
            slot = latest_slot(schedule, now)
            if slot < schedule.created_at or now - slot > CATCH_UP:
                continue  # the slot came before the schedule existed, or too long ago to still be useful
            if await self.fire(schedule.id, now) is not None:
                done += 1
        return done
