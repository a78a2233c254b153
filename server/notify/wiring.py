"""How the notify service meets the rest of the running service: the robot push, the next approver, and the
silence gate in front of a new case's announcement."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from server.alerts.models import Alert
from server.cases.store import Case
from server.notify.service import NotifyService, Repush
from server.voiceprint.store import VoiceprintStore

if TYPE_CHECKING:
    from server.delivery import AlertDelivery

log = logging.getLogger(__name__)

OnNewCase = Callable[[Case, Alert], Awaitable[None]]


def alert_labels(alert: Alert) -> dict[str, str]:
    """The labels silence matchers see: the normalised fields, then the source's own labels."""
    return {
        **{k: str(v) for k, v in alert.labels.items()},
        "alertname": alert.policy,
        "severity": alert.severity,
        "namespace": alert.namespace or "",
        "workload": alert.workload or "",
        "pod": alert.pod or "",
        "resource": alert.resource,
        "account": alert.account or "",
        "title": alert.title,
    }


def repush_via(delivery: AlertDelivery) -> Repush:
    async def repush(case: Case, owner: str) -> str:
        sentence = f"提醒：{case.title}，还没有人确认。说“收到”来确认，或者说“十分钟后再提醒我”。"
        await delivery.announce(owner, [sentence], case.id, False, severity=case.severity, title=case.title)
        return f"已在 {owner} 的机器人上再次提醒（无人在线则在下次唤醒时播报）"

    return repush


def next_approver(voiceprints: VoiceprintStore) -> Callable[[str], str | None]:
    """The owner after ``owner`` among those with approval rights (enrolment order, wrapping around)."""

    def pick(owner: str) -> str | None:
        approvers = [o.name for o in voiceprints.list_owners() if o.can_approve]
        if owner in approvers:
            i = approvers.index(owner)
            approvers = approvers[i + 1 :] + approvers[:i]
        others = [name for name in approvers if name != owner]
        return others[0] if others else None

    return pick


def silence_gate(notify: NotifyService, announce: OnNewCase) -> OnNewCase:
    """A new case whose alert a silence covers is recorded on its timeline and not spoken; its escalation
    waits until the silence ends (an alert still open after a maintenance window is then announced)."""

    async def on_new_case(case: Case, alert: Alert) -> None:
        silence = await asyncio.to_thread(notify.silences.silencing, case.owner, alert_labels(alert))
        if silence is None:
            await announce(case, alert)
            return
        await asyncio.to_thread(
            notify.cases.store.add_note,
            case.id,
            actor="system",
            text=f"静默中（#{silence.id}，{silence.describe_zh(notify.tz)}）：已记录，不播报",
            detail={"silence_id": silence.id},
        )
        await asyncio.to_thread(notify.attention.snooze_until, case.id, silence.ends_at)
        log.info("case %s silenced by #%s: recorded, not spoken", case.id, silence.id)

    return on_new_case
