"""Wires acknowledgement, snooze, silences, channels and the escalation ladder into one service object.

The robot-side actions (push again to an owner's devices) are given as callables, so this package does not
depend on how delivery is built; the channel sends run here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

import aiohttp

from server.cases.outbox import IdempotentConsumer
from server.cases.service import CaseService
from server.cases.store import Case
from server.notify.chain import RetryPolicy, send_with_failover
from server.notify.channels import build_channel
from server.notify.escalation import MSG_ESCALATE, AttentionStore, EscalationLadder, EscalationPolicy
from server.notify.log import NotificationLog
from server.notify.models import ChannelSpec, Notification, SendOutcome, SendStatus
from server.notify.store import ChannelStore
from server.silences.models import Silence
from server.silences.store import SilenceStore
from server.storage.db import Database
from server.vault.crypto import VaultCipher

log = logging.getLogger(__name__)

# push the case again to one owner's robot; returns what happened, for the timeline
Repush = Callable[[Case, str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class CaseBrief:
    cause: str
    fix: str


def brief_from_case(case: Case) -> CaseBrief:
    """Cause and fix as the tracer left them on the case (the plan's rationale and summary, else the case's
    reason); empty when unknown."""
    cause = (case.plan.rationale if case.plan else "") or case.reason or ""
    fix = case.plan.summary if case.plan else ""
    return CaseBrief(cause=cause[:300], fix=fix[:300])


class _Performer:
    def __init__(self, service: NotifyService) -> None:
        self.s = service

    async def push_again(self, case: Case, rung: int) -> str:
        return await self.s.repush(case, case.owner)

    async def send_channels(self, case: Case, rung: int, channels: list[str], severity: str) -> str:
        outcomes = await self.s.send_case(case, rung, channels, severity)
        if not outcomes:
            return "没有配置通知渠道"
        last = outcomes[-1]
        if last.status is SendStatus.SENT:
            return f"已通过 {last.channel} 发送"
        return "所有渠道发送失败：" + "；".join(f"{o.channel} {o.detail}" for o in outcomes)

    async def next_owner(self, case: Case, rung: int) -> str:
        nxt = self.s.next_owner(case.owner)
        if nxt is None:
            return "没有其他有审批权限的负责人"
        pushed = await self.s.repush(case, nxt)
        outcomes = await self.s.send_case(case, rung, [], case.severity, owner=nxt)
        sent = next((o.channel for o in outcomes if o.status is SendStatus.SENT), None)
        return f"已转给 {nxt}：{pushed}" + (f"，并通过 {sent} 通知" if sent else "")


class NotifyService:
    def __init__(
        self,
        db: Database,
        cipher: VaultCipher,
        cases: CaseService,
        *,
        policy: EscalationPolicy,
        repush: Repush | None = None,
        next_owner: Callable[[str], str | None] | None = None,
        sweep_interval_s: float = 30.0,
        retry: RetryPolicy | None = None,
        tz: tzinfo = UTC,
    ) -> None:
        self.cases = cases
        self.tz = tz
        self.attention = AttentionStore(db)
        self.channels = ChannelStore(db, cipher)
        self.silences = SilenceStore(db)
        self.notes_log = NotificationLog(db)
        self.retry = retry or RetryPolicy()
        self._repush = repush
        self._next_owner = next_owner or (lambda _owner: None)
        self.sweep_interval_s = sweep_interval_s
        self.ladder = EscalationLadder(cases.store, self.attention, policy, _Performer(self))
        cases.dispatcher.register(
            MSG_ESCALATE, IdempotentConsumer(cases.store, EscalationLadder.CONSUMER, self.ladder.perform)
        )
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sweep_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _sweep_loop(self) -> None:
        while True:
            try:
                if await asyncio.to_thread(self.ladder.sweep):
                    self.cases.dispatcher.wake()
            except Exception:  # a sweep must never end the loop; the next one retries
                log.exception("escalation sweep failed")
            await asyncio.sleep(self.sweep_interval_s)

    def set_repush(self, repush: Repush) -> None:
        self._repush = repush

    async def repush(self, case: Case, owner: str) -> str:
        if self._repush is None:
            return "没有可用的播报通道"
        return await self._repush(case, owner)

    def next_owner(self, owner: str) -> str | None:
        return self._next_owner(owner)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    # -- acknowledgement ----------------------------------------------------------------------------
    async def acknowledge(self, case_id: int, actor: str) -> bool | None:
        """None: no such case; True: this acknowledged it; False: it was already acknowledged."""
        if self.cases.get_case(case_id) is None:
            return None
        first = await asyncio.to_thread(self.attention.acknowledge, case_id, actor)
        if first:
            await asyncio.to_thread(self.cases.store.add_note, case_id, actor=actor, text="已确认（收到）")
        return first

    async def snooze(self, case_id: int, minutes: float, actor: str) -> datetime | None:
        if self.cases.get_case(case_id) is None:
            return None
        until = await asyncio.to_thread(self.attention.snooze, case_id, minutes)
        await asyncio.to_thread(
            self.cases.store.add_note,
            case_id,
            actor=actor,
            text=f"稍后提醒：{minutes:g} 分钟后",
            detail={"snoozed_until": until.isoformat()},
        )
        return until

    # -- channels -----------------------------------------------------------------------------------
    @staticmethod
    def parse_channel(data: Mapping[str, object]) -> ChannelSpec:
        return ChannelSpec.model_validate(dict(data))

    def _notification(self, case: Case, rung: int, severity: str, owner: str | None = None) -> Notification:
        brief = brief_from_case(case)
        return Notification(
            case_id=case.id,
            owner=owner or case.owner,
            severity=severity,
            title=case.title,
            cause=brief.cause,
            fix=brief.fix,
            rung=rung,
        )

    async def send_case(
        self, case: Case, rung: int, names: list[str], severity: str, owner: str | None = None
    ) -> list[SendOutcome]:
        specs = await asyncio.to_thread(self.channels.all, owner or case.owner)
        if names:
            order = {n: i for i, n in enumerate(names)}
            specs = sorted((s for s in specs if s.name in order), key=lambda s: order[s.name])
        channels = [build_channel(s, self._http()) for s in specs]
        note = self._notification(case, rung, severity, owner)
        return await send_with_failover(note, channels, self.notes_log, self.retry)

    async def test_channel(self, name: str, actor: str) -> SendOutcome | None:
        spec = await asyncio.to_thread(self.channels.get, name)
        if spec is None:
            return None
        note = Notification(case_id=0, owner=spec.owner or "-", severity="info", title=f"测试消息（{actor}）")
        return await build_channel(spec, self._http()).send(note)

    # -- silences -----------------------------------------------------------------------------------
    def silence_json(self, s: Silence) -> dict[str, object]:
        return {
            "id": s.id,
            "owner": s.owner,
            "matchers": [str(m) for m in s.matchers],
            "starts_at": s.starts_at.isoformat(),
            "ends_at": s.ends_at.isoformat(),
            "created_by": s.created_by,
            "comment": s.comment,
            "description": s.describe_zh(self.tz),
        }
