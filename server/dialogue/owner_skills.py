"""Skills that depend on *who* is speaking: guest policy, voice enrolment, on-demand analysis, alerts and the
spoken approval of a rollback (voiceprint match + a fresh random digits challenge).

The AI never approves: approval needs an identified owner with rights who reads back the challenge digits
in their own voice; the case state machine then guards every transition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from server.cases.fsm import State
from server.cases.pinning import PlanChanged, SpokenPlan, spoken_plan
from server.cases.service import CaseService
from server.cases.store import ConflictError, GuardRejected, IllegalTransition
from server.config import Settings
from server.delivery import AlertDelivery
from server.dialogue.answers import day_cn
from server.dialogue.context import Speaker, TurnContext
from server.dialogue.memory import PendingChallenge
from server.dialogue.replies import Reply
from server.dialogue.reports import ReportStore
from server.dialogue.skills import Skill
from server.intent.models import Expect, Intent
from server.owners import OwnerDirectory
from server.scheduler import PipelineScheduler
from server.voiceprint.challenge import ChallengeManager
from server.voiceprint.enrolment import EnrolmentDialogue
from server.voiceprint.identify import Identifier
from server.voiceprint.store import OwnerError, VoiceprintStore

log = logging.getLogger(__name__)

BYTES_PER_SECOND = 12e6  # measured pipeline speed on this class of machine, for the spoken estimate


def approver_id(owner: str) -> str:
    return f"owner:{owner}"


class OwnerSkills:
    def __init__(
        self,
        *,
        settings: Settings,
        reports: ReportStore,
        owners: OwnerDirectory,
        voiceprints: VoiceprintStore,
        scheduler: PipelineScheduler,
        challenges: ChallengeManager,
        cases: CaseService,
        delivery: AlertDelivery,
    ) -> None:
        self.settings = settings
        self.reports = reports
        self.owners = owners
        self.voiceprints = voiceprints
        self.scheduler = scheduler
        self.challenges = challenges
        self.cases = cases
        self.delivery = delivery

    # ---- who is speaking

    def resolver(self, identifier: Identifier) -> Callable[[Any], Coroutine[Any, Any, Speaker]]:
        async def resolve(pcm: Any) -> Speaker:
            if not await asyncio.to_thread(self.owners.enrolled_names):
                return Speaker(self.settings.default_owner, None)  # single-user mode: nobody enrolled yet
            if len(pcm) == 0:
                return Speaker(None)  # typed text: nothing to identify
            result = await identifier.identify(pcm)
            ident = result.identification
            if ident.owner_id is None:
                return Speaker(None, ident)
            try:
                return Speaker(self.voiceprints.get_owner(ident.owner_id).name, ident)
            except OwnerError:
                return Speaker(None, ident)

        return resolve

    # ---- multi-turn flows: enrolment and the approval challenge

    async def intercept(self, text: str, ctx: TurnContext) -> Reply | None:
        pending = ctx.memory.expect
        if pending is Expect.ENROLL and isinstance(ctx.memory.enrolment, EnrolmentDialogue):
            return await self._continue_enrolment(text, ctx)
        if pending is Expect.CHALLENGE and ctx.memory.challenge is not None:
            return await self._answer_challenge(text, ctx)
        return None

    async def enroll(self, intent: Intent, ctx: TurnContext) -> Reply:
        dialogue = EnrolmentDialogue()
        ctx.memory.enrolment = dialogue
        return Reply.say(dialogue.prompt, expect=Expect.ENROLL)

    async def _continue_enrolment(self, text: str, ctx: TurnContext) -> Reply:
        dialogue = ctx.memory.enrolment
        assert dialogue is not None
        step = dialogue.hear(text, ctx.audio)
        if not step.finished:
            return Reply.say(step.prompt, expect=Expect.ENROLL)
        ctx.memory.enrolment = None
        if not step.done:
            return Reply.say(step.prompt)
        try:
            existing = self._owner_or_none(step.name)
            await asyncio.to_thread(
                self.voiceprints.enrol, existing, step.clips, name=None if existing else step.name
            )
        except Exception as exc:  # bad audio, duplicate name…: nothing half-written, say why
            log.warning("voice enrolment failed: %s", exc)
            return Reply.say("抱歉，这次的录音不够清楚，声纹没有保存，请稍后再试一次。", emotion="sad")
        return Reply.say(step.prompt, emotion="happy")

    def _owner_or_none(self, name: str) -> int | None:
        try:
            return self.voiceprints.get_owner(name).id
        except OwnerError:
            return None

    # ---- reports on demand

    def with_on_demand(self, broadcast: Skill) -> Skill:
        async def skill(intent: Intent, ctx: TurnContext) -> Reply:
            yesterday = (ctx.today - timedelta(days=1)).isoformat()
            day = intent.day or yesterday
            # today is still being logged: the broadcast skill explains when its report comes instead
            if not intent.kind and day <= yesterday and self.reports.summary(ctx.owner, day) is None:
                await self._analyse_now(ctx, day)
            return await broadcast(intent, ctx)

        return skill

    async def _analyse_now(self, ctx: TurnContext, day: str) -> None:
        """Someone else used the robot last night: analyse this owner's day with their keys, while telling them."""
        source = await asyncio.to_thread(self.owners.source_for, ctx.owner)
        if source is None:
            return
        try:
            size = await asyncio.to_thread(_day_bytes, source, day)
        except Exception as exc:
            log.warning("cannot list %s's logs for %s: %s", ctx.owner, day, type(exc).__name__)
            return
        if size == 0:
            return
        seconds = max(3, round(size / BYTES_PER_SECOND) + 2)
        when = "昨天" if day == (ctx.today - timedelta(days=1)).isoformat() else day_cn(day)
        await ctx.say(Reply.say(f"正在为您分析{when}的日志，大约需要{seconds}秒。"))
        await self.scheduler.run_owner(ctx.owner, day, only_missing=True, index_later=True)

    # ---- alerts and approvals

    async def alerts(self, intent: Intent, ctx: TurnContext) -> Reply:
        open_cases = [
            c for c in self.cases.list_cases(owner=ctx.owner, limit=20) if c.status not in (State.CLOSED,)
        ]
        if not open_cases:
            return Reply.say("目前没有未处理的告警。")
        sentences = [f"目前有{len(open_cases)}条未处理的告警。"]
        for case in open_cases[:3]:
            sentences.append(
                f"{case.title[:60]}，状态是{_STATUS_CN.get(str(case.status), str(case.status))}。"
            )
        waiting = next((c for c in open_cases if c.status is State.WAIT_GATE), None)
        if waiting is not None:
            ctx.memory.case_id = waiting.id
            sentences.append("其中有一个回滚方案在等待确认，是否需要回滚？")
            return Reply(sentences=sentences, expect=Expect.ROLLBACK)
        return Reply(sentences=sentences)

    def _waiting_case(self, ctx: TurnContext) -> Any | None:
        case_id = ctx.memory.case_id
        if case_id is not None:
            case = self.cases.get_case(case_id)
            if case is not None:
                return case
        waiting = [c for c in self.cases.list_cases(owner=ctx.owner, limit=20) if c.status is State.WAIT_GATE]
        return waiting[0] if waiting else None

    async def rollback_confirm(self, intent: Intent, ctx: TurnContext) -> Reply:
        case = self._waiting_case(ctx)
        if case is None:
            return Reply.say("当前没有等待确认的回滚操作。")
        if case.status in (State.EXECUTING, State.VERIFYING, State.CLOSED):
            return Reply.say("这个回滚已经确认过了，正在执行或已经完成，不会重复执行。")
        if case.status is not State.WAIT_GATE:
            return Reply.say("这个告警现在没有可以执行的回滚方案。")
        owner_id = self._owner_or_none(ctx.owner) if ctx.speaker and ctx.speaker.detail is not None else None
        if owner_id is None:
            return Reply.say("确认回滚需要先注册声纹，并由有权限的主人确认。")
        if case.owner != ctx.owner:  # a shared robot: only the owner whose cloud raised the alert decides
            return Reply.say("这个告警不属于你，需要由它的主人来确认回滚。")
        if not self.voiceprints.get_owner(owner_id).can_approve:
            return Reply.say("你没有确认回滚的权限，请让有权限的主人来确认。")
        challenge = self.challenges.issue(owner_id, action=f"case:{case.id}")
        # the approval is pinned to exactly the plan read aloud now (version + digest)
        ctx.memory.challenge = PendingChallenge(challenge.id, case.id, SpokenPlan.of(case))
        return Reply.say(spoken_plan(case.plan), challenge.prompt, expect=Expect.CHALLENGE)

    async def _answer_challenge(self, text: str, ctx: TurnContext) -> Reply:
        pending, ctx.memory.challenge = ctx.memory.challenge, None
        assert pending is not None
        challenge_id, case_id, spoken = pending.challenge_id, pending.case_id, pending.plan
        ident = ctx.speaker.detail if ctx.speaker else None
        if ident is None:
            return Reply.say("没有识别出你的声音，回滚没有执行。")
        result = self.challenges.verify(challenge_id, text, ident)
        if not result.ok:
            log.info("rollback challenge for case %s failed: %s", case_id, result.verdict)
            return Reply.say("验证没有通过，回滚没有执行。需要的话，可以再说一次“确认回滚”。", emotion="sad")
        try:
            await asyncio.to_thread(
                self.cases.approve_spoken,
                spoken,
                approver=approver_id(ctx.owner),
                challenge_passed=True,
                idempotency_key=f"approve-{case_id}",
            )
        except PlanChanged as exc:
            log.warning("approval of case %s refused: %s", case_id, exc)
            return Reply.say(
                "刚才读给你的方案已经被修改过，回滚没有执行。",
                "请再说一次“确认回滚”，我会读出新的方案。",
                emotion="sad",
            )
        except (GuardRejected, IllegalTransition, ConflictError) as exc:
            log.info("approval of case %s refused: %s", case_id, exc)
            return Reply.say("这个回滚现在不能执行，可能已经处理过了。")
        return Reply.say("验证通过，开始执行回滚，完成后我会告诉你结果。")

    async def rollback_deny(self, intent: Intent, ctx: TurnContext) -> Reply:
        case = self._waiting_case(ctx)
        if case is None or case.status not in (State.WAIT_GATE, State.PLANNING, State.ANALYZING, State.NEW):
            return Reply.say("好的，当前没有需要回滚的操作。")
        actor = approver_id(ctx.owner) if not ctx.guest else "guest"
        try:
            await asyncio.to_thread(
                self.cases.deny, case.id, actor=actor, reason=f"语音拒绝回滚：{ctx.text[:40]}"
            )
        except (GuardRejected, IllegalTransition, ConflictError) as exc:
            log.info("deny of case %s refused: %s", case.id, exc)
            return Reply.say("这个告警的状态已经变化，没有做任何操作。")
        ctx.memory.case_id = None
        return Reply.say("好的，不回滚，已经把这个告警挂起，需要时可以在控制台继续处理。")


_STATUS_CN = {
    "NEW": "新告警",
    "ANALYZING": "分析中",
    "PLANNING": "制定方案中",
    "WAIT_GATE": "等待确认",
    "EXECUTING": "执行中",
    "VERIFYING": "验证中",
    "PARKED": "已挂起",
}


def _day_bytes(source: Any, day: str) -> int:
    return sum(
        int(ref.size or 0)
        for kind in ("business", "event", "audit")
        for ref in source.list_objects(kind, day)
    )
