"""Spoken acknowledgement, snooze and silences ("收到", "十分钟后再提醒我", "静默两小时", "现在有哪些静默").

A guest voice is refused with the reason (the actor on a case timeline must be a known person). A silence is
read back and made only after a yes; an impossible one gets a sentence saying why.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from server.cases.fsm import State
from server.cases.store import Case
from server.dialogue.context import TurnContext
from server.dialogue.replies import Reply
from server.dialogue.skills import Skill
from server.intent.models import Expect, Intent
from server.notify.service import NotifyService
from server.silences.models import SilenceIn
from server.silences.spoken import SilenceSpeechError, parse_spoken_silence

GUEST_REFUSAL = "只有注册过声纹的负责人才能确认或静默告警。你可以说“注册声纹”。"
DEFAULT_SNOOZE_MIN = 10


def _actor(ctx: TurnContext) -> str:
    return f"owner:{ctx.owner}"


class AlertingSkills:
    def __init__(self, notify: NotifyService, timezone: str) -> None:
        self.notify = notify
        self.tz = ZoneInfo(timezone)

    def table(self) -> dict[str, Skill]:
        """The intents these skills answer (``build_skill_table(extra=…)`` puts them in the one table)."""
        return {
            "acknowledge": self.acknowledge,
            "snooze": self.snooze,
            "silence_create": self.silence_create,
            "silence_list": self.silence_list,
        }

    def _case(self, ctx: TurnContext) -> Case | None:
        """The case the robot last spoke about, else this owner's newest open case."""
        if ctx.memory.case_id is not None:
            found = self.notify.cases.get_case(ctx.memory.case_id)
            if found is not None and found.status not in (State.CLOSED,):
                return found
        for case in self.notify.cases.list_cases(owner=ctx.owner, limit=20):
            if case.status not in (State.CLOSED, State.PARKED):
                return case
        return None

    async def acknowledge(self, intent: Intent, ctx: TurnContext) -> Reply:
        if ctx.guest:
            return Reply.say(GUEST_REFUSAL)
        case = await asyncio.to_thread(self._case, ctx)
        if case is None:
            return Reply.say("现在没有需要确认的告警。")
        first = await self.notify.acknowledge(case.id, _actor(ctx))
        ctx.memory.case_id = case.id
        if first is False:
            return Reply.say(f"{case.title}已经有人确认过了。")
        return Reply.say(f"好的，{case.title}已记为由你处理，不会再升级提醒。")

    async def snooze(self, intent: Intent, ctx: TurnContext) -> Reply:
        if ctx.guest:
            return Reply.say(GUEST_REFUSAL)
        case = await asyncio.to_thread(self._case, ctx)
        if case is None:
            return Reply.say("现在没有需要提醒的告警。")
        minutes = int(intent.args.get("minutes") or DEFAULT_SNOOZE_MIN)
        if not 1 <= minutes <= 24 * 60:
            return Reply.say("稍后提醒的时间要在一分钟到一天之间，请再说一次。")
        until = await self.notify.snooze(case.id, minutes, _actor(ctx))
        ctx.memory.case_id = case.id
        if until is None:
            return Reply.say("这条告警已经不存在了。")
        return Reply.say(f"好的，{until.astimezone(self.tz):%H点%M分}再提醒你{case.title}。")

    async def silence_create(self, intent: Intent, ctx: TurnContext) -> Reply:
        if ctx.guest:
            return Reply.say(GUEST_REFUSAL)
        pending = intent.args.get("silence")
        if intent.source == "followup" and isinstance(pending, str):  # the yes to our read-back
            data = SilenceIn.model_validate_json(pending)
            silence = await asyncio.to_thread(self.notify.silences.add, data, _actor(ctx))
            return Reply.say(f"好的，已静默：{silence.describe_zh(self.tz)}。期间的告警只记录，不播报。")
        try:
            data = parse_spoken_silence(
                intent.text or ctx.text, owner=ctx.owner, now=datetime.now(self.tz), known_workloads=()
            )
        except SilenceSpeechError as exc:
            return Reply.say(str(exc))
        preview = f"{data.starts_at.astimezone(self.tz):%m月%d日%H:%M}到{data.ends_at.astimezone(self.tz):%m月%d日%H:%M}"
        scope = "、".join(str(m) for m in data.matchers) or "你的全部告警"
        ctx.memory.candidate = Intent("silence_create", {"silence": data.model_dump_json()}, text=intent.text)
        return Reply.say(f"我会在{preview}静默{scope}，确认吗？", expect=Expect.CONFIRM)

    async def silence_list(self, intent: Intent, ctx: TurnContext) -> Reply:
        found = await asyncio.to_thread(self.notify.silences.list, None if ctx.guest else ctx.owner)
        now = datetime.now(UTC)
        active = [s for s in found if s.owner == ctx.owner and s.ends_at > now]
        if ctx.guest or not active:
            return Reply.say("现在没有生效的静默。")
        lines = [f"现在有{len(active)}条静默。"]
        lines += [f"第{i}条，{s.describe_zh(self.tz)}。" for i, s in enumerate(active[:3], start=1)]
        return Reply.say(*lines)
