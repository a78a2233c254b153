"""Verification deadline: a case left in VERIFYING is decided once its alert had time to recover.

Recovery itself closes a VERIFYING case at once (the alert service calls ``verify``); this sweep handles the
other outcome, so an action that did not help ends PARKED for a human instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from server.cases.fsm import State
from server.cases.service import CaseService
from server.cases.store import ConflictError, IllegalTransition

log = logging.getLogger(__name__)

RecoveredFn = Callable[[int], "bool | None"]  # case id → did its alert recover (None: unknown)


def sweep(
    cases: CaseService, recovered: RecoveredFn, timeout_s: float, now: datetime | None = None
) -> list[int]:
    """Decide every case that has been VERIFYING for at least ``timeout_s``; returns their ids."""
    now = now or datetime.now(UTC)
    decided = []
    for case in cases.list_cases(status=State.VERIFYING.value, limit=1000):
        if (now - case.updated_at).total_seconds() < timeout_s:
            continue
        try:
            cases.verify(
                case.id, actor="verifier", recovered=bool(recovered(case.id)), expected_version=case.version
            )
        except (ConflictError, IllegalTransition):  # decided meanwhile (e.g. the recovery arrived): fine
            continue
        decided.append(case.id)
    return decided


class VerificationSweeper:
    def __init__(
        self, cases: CaseService, recovered: RecoveredFn, timeout_s: float, interval_s: float = 30.0
    ):
        self.cases, self.recovered = cases, recovered
        self.timeout_s, self.interval_s = timeout_s, interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="case-verifier")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                decided = await asyncio.to_thread(sweep, self.cases, self.recovered, self.timeout_s)
                if decided:
                    log.info("verification deadline passed for cases %s", decided)
            except Exception:
                log.exception("verification sweep failed")
