"""Outbox dispatcher: at-least-once delivery of case messages to consumers registered by message type.

A message is marked delivered only after every consumer for its type returned; a failure retries the whole message
later with exponential backoff, so consumers must be idempotent. ``IdempotentConsumer`` gives that for free by
recording (consumer, message id) after the consumer acted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from server.cases.store import CaseStore, OutboxMessage

log = logging.getLogger(__name__)

Consumer = Callable[[OutboxMessage], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    base_s: float = 0.5
    factor: float = 2.0
    max_s: float = 300.0

    def delay(self, attempts: int) -> float:
        return min(self.max_s, self.base_s * self.factor ** max(0, attempts))


class IdempotentConsumer:
    """Wraps a consumer so a message delivered twice acts once (dedupe table keyed by consumer + message id)."""

    def __init__(self, store: CaseStore, name: str, handler: Consumer) -> None:
        self.store, self.name, self.handler = store, name, handler
        self._inflight: set[int] = set()

    async def __call__(self, msg: OutboxMessage) -> None:
        if msg.id in self._inflight:  # the same message delivered concurrently in this process
            return
        if await asyncio.to_thread(self.store.was_consumed, self.name, msg.id):
            log.debug("consumer %s already handled message %s", self.name, msg.id)
            return
        self._inflight.add(msg.id)
        try:
            await self.handler(msg)
            await asyncio.to_thread(self.store.record_consumed, self.name, msg.id)
        finally:
            self._inflight.discard(msg.id)


class OutboxDispatcher:
    def __init__(
        self,
        store: CaseStore,
        *,
        poll_interval_s: float = 1.0,
        batch: int = 50,
        lease_s: float = 60.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.store = store
        self.poll_interval_s = poll_interval_s
        self.batch = batch
        self.lease_s = lease_s
        self.backoff = backoff or Backoff()
        self._consumers: dict[str, list[Consumer]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def register(self, msg_type: str, consumer: Consumer) -> None:
        self._consumers.setdefault(msg_type, []).append(consumer)

    def wake(self) -> None:
        """Deliver soon instead of at the next poll (call after a transition). Safe from any thread."""
        task = self._task
        if task is None or task.done():
            return  # not running: the next dispatch_once()/start() picks the messages up
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is task.get_loop():
            self._wake.set()
        else:
            task.get_loop().call_soon_threadsafe(self._wake.set)

    async def dispatch_once(self) -> int:
        """Deliver every due message once; returns how many were delivered."""
        messages = await asyncio.to_thread(self.store.claim_due, limit=self.batch, lease_s=self.lease_s)
        delivered = 0
        for msg in messages:
            consumers = self._consumers.get(msg.msg_type, [])
            try:
                for consumer in consumers:
                    await consumer(msg)
            except Exception as exc:  # a consumer failure must not stop the dispatcher
                delay = self.backoff.delay(msg.attempts)
                log.warning(
                    "outbox message %s (%s) failed (attempt %s), retry in %.1fs: %s",
                    msg.id,
                    msg.msg_type,
                    msg.attempts + 1,
                    delay,
                    exc,
                )
                await asyncio.to_thread(self.store.mark_failed, msg.id, f"{type(exc).__name__}: {exc}", delay)
                continue
            await asyncio.to_thread(self.store.mark_delivered, msg.id)
            delivered += 1
        return delivered

    async def run(self) -> None:
        while True:
            self._wake.clear()  # before claiming, so a wake() during dispatch is not lost
            try:
                n = await self.dispatch_once()
            except Exception:
                log.exception("outbox dispatch failed; retrying")
                n = 0
            if n >= self.batch:
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that races a wake(),
            # and stop() then waits for this task forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval_s):
                    await self._wake.wait()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="case-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
