"""Spoken schedules: create (read back, made after yes), list, cancel ("取消九点的播报")."""

from __future__ import annotations

import asyncio

from server.dialogue.context import TurnContext
from server.dialogue.replies import Reply
from server.dialogue.skills import Skill
from server.intent.models import Expect, Intent
from server.schedules.models import ScheduleIn
from server.schedules.runner import ScheduleRunner
from server.schedules.spoken import CancelRequest, ScheduleSpeechError, parse_spoken_schedule
from server.schedules.store import ScheduleStore


def _actor(ctx: TurnContext) -> str:
    return f"owner:{ctx.owner}"


class ScheduleSkills:
    def __init__(self, store: ScheduleStore, runner: ScheduleRunner) -> None:
        self.store = store
        self.runner = runner

    def table(self) -> dict[str, Skill]:
        return {
            "schedule_create": self.create,
            "schedule_list": self.list_schedules,
            "schedule_cancel": self.cancel,
        }

    async def create(self, intent: Intent, ctx: TurnContext) -> Reply:
        pending = intent.args.get("schedule")
        if intent.source == "followup" and isinstance(pending, str):  # the yes to our read-back
            spec = ScheduleIn.model_validate_json(pending)
            schedule = await asyncio.to_thread(self.store.add, spec, _actor(ctx))
            self.runner.added(schedule)
            return Reply.say(f"好的，已设置：{schedule.describe_zh()}。到时我会主动提醒你。")
        try:
            parsed = parse_spoken_schedule(intent.text or ctx.text, owner=ctx.owner)
        except ScheduleSpeechError as exc:
            return Reply.say(str(exc))
        if isinstance(parsed, CancelRequest):
            return await self.cancel(intent, ctx)
        ctx.memory.candidate = Intent(
            "schedule_create", {"schedule": parsed.model_dump_json()}, text=intent.text
        )
        return Reply.say(f"我会{parsed.describe_zh()}，确认吗？", expect=Expect.CONFIRM)

    async def list_schedules(self, intent: Intent, ctx: TurnContext) -> Reply:
        found = await asyncio.to_thread(self.store.active, ctx.owner)
        if not found:
            return Reply.say("你还没有定时任务。可以说“每天早上九点播报日志”。")
        lines = [f"你有{len(found)}个定时任务。"]
        lines += [f"第{i}个，{s.describe_zh()}。" for i, s in enumerate(found[:5], start=1)]
        return Reply.say(*lines)

    async def cancel(self, intent: Intent, ctx: TurnContext) -> Reply:
        try:
            parsed = parse_spoken_schedule(intent.text or ctx.text, owner=ctx.owner)
        except ScheduleSpeechError:
            parsed = CancelRequest(hour=None, minute=None, kind=None)
        request = (
            parsed
            if isinstance(parsed, CancelRequest)
            else CancelRequest(parsed.hour, parsed.minute, parsed.kind)
        )
        found = await asyncio.to_thread(self.store.active, ctx.owner)
        matching = [
            s
            for s in found
            if (request.hour is None or (s.spec.hour, s.spec.minute) == (request.hour, request.minute))
            and (request.kind is None or s.spec.kind is request.kind)
        ]
        if not matching:
            return Reply.say("没有找到这个定时任务。你可以说“我有哪些定时任务”。")
        if len(matching) > 1 and request.hour is None:
            names = "；".join(s.describe_zh() for s in matching[:3])
            return Reply.say(f"你有{len(matching)}个定时任务：{names}。要取消哪一个？请说出时间。")
        for s in matching:
            await asyncio.to_thread(self.store.cancel, s.id)
            self.runner.cancelled(s.id)
        return Reply.say("好的，已取消：" + "；".join(s.describe_zh() for s in matching) + "。")
