"""Skills: one coroutine per intent, turning an Intent into a Reply. Registered in a table, not an if-chain."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from server.dialogue import answers
from server.dialogue.answers import day_cn
from server.dialogue.context import TurnContext
from server.dialogue.replies import Reply
from server.dialogue.reports import ReportStore
from server.intent.models import Expect, Intent
from server.speech.text import speakable_sentences
from server.voice.channel import DeviceToolError, DeviceToolMissing

log = logging.getLogger(__name__)

FOLLOW_UP = (
    "是否需要针对某类日志进行更详细的分析？比如业务日志、事件日志或审计日志，也可以让我关联分析三类日志。"
)
FOLLOW_UP_KEY = "是否需要针对某类日志"
HELP = (
    "我可以为你播报昨天的日志分析，深入分析业务日志、事件日志或审计日志，关联分析三类日志，或者查询最近的告警。",
    "你可以说：开始播报日志。",
)
WEEKDAYS = "一二三四五六日"
# Understood intents whose backend does not exist yet: the reply says so (what the user asked for, in words).
NOT_YET_AVAILABLE = {
    "acknowledge": "认领这条告警",
    "snooze": "稍后再提醒",
    "silence_create": "静默告警",
    "silence_list": "查看告警静默",
    "schedule_create": "设置定时播报",
    "schedule_list": "查看定时任务",
    "schedule_cancel": "取消定时任务",
}
VOLUME_TOOL = "self.audio_speaker.set_volume"
STATUS_TOOL = "self.get_device_status"


Skill = Callable[[Intent, TurnContext], Awaitable[Reply]]


class Skills:
    def __init__(self, reports: ReportStore, timezone: str) -> None:
        self.reports = reports
        self.timezone = timezone
        self.table: dict[str, Skill] = {
            "greeting": self.greeting,
            "broadcast": self.broadcast,
            "drill_down": self.drill_down,
            "volume": self.volume,
            "chat": self.chat,
            "stop": self.stop,
            "help": self.help,
            **{name: self.not_available for name in NOT_YET_AVAILABLE},
        }

    def register(self, intent_name: str, skill: Skill) -> None:
        """Replace one entry after the table is built (prefer ``skill_table.build_skill_table(extra=…)``,
        which also applies the guest policy)."""
        self.table[intent_name] = skill

    async def handle(self, intent: Intent, ctx: TurnContext) -> Reply:
        skill = self.table.get(intent.name)
        if skill is None:
            log.warning("no skill for intent %s", intent.name)
            return Reply.say("这个功能还没有开通。", *HELP[1:])
        return await skill(intent, ctx)

    # ---- skills

    async def greeting(self, intent: Intent, ctx: TurnContext) -> Reply:
        return Reply.say("你好，我是小智。", HELP[1], emotion="happy")

    async def help(self, intent: Intent, ctx: TurnContext) -> Reply:
        return Reply.say(*HELP)

    async def not_available(self, intent: Intent, ctx: TurnContext) -> Reply:
        """Understood, but no backend yet: say so plainly — never a silent wrong action."""
        what = NOT_YET_AVAILABLE.get(intent.name, "这个功能")
        return Reply.say(f"我听懂了，你是想{what}，不过这个功能还没有开通。", HELP[1])

    async def stop(self, intent: Intent, ctx: TurnContext) -> Reply:
        await ctx.device.stop_speaking()
        return Reply.say("好的。")

    async def broadcast(self, intent: Intent, ctx: TurnContext) -> Reply:
        yesterday = (ctx.today - timedelta(days=1)).isoformat()
        day = intent.day or yesterday
        if day > yesterday and self.reports.summary(ctx.owner, day) is None:
            # today's report is written at 01:00 tomorrow: say so and offer yesterday's (yes → broadcast it)
            ctx.memory.candidate = Intent("broadcast", {"day": yesterday}, text=intent.text)
            return Reply.say(
                f"{day_cn(day)}的日志报告要到明天凌晨一点才会生成。",
                "要先听昨天的日志播报吗？",
                expect=Expect.CONFIRM,
            )
        if intent.kind:
            # through the table: the registered drill-down (findings + index, or the LLM agent) answers
            return await self.handle(
                Intent("drill_down", {"kind": intent.kind, "day": day}, text=intent.text), ctx
            )
        summary = self.reports.summary(ctx.owner, day)
        lead: list[str] = []
        if summary is None:
            summary = self.reports.latest_summary(ctx.owner, not_after=day)
            if summary is None:
                return Reply.say(
                    f"还没有{day_cn(day)}的日志分析报告，也没有更早的报告。",
                    "每天凌晨一点会自动分析前一天的日志，生成后就可以为你播报。",
                    emotion="sad",
                )
            lead.append(f"还没有{day_cn(day)}的日志分析报告，下面播报{day_cn(summary.day)}的。")
        sentences = speakable_sentences(summary.text)
        if not any(FOLLOW_UP_KEY in s for s in sentences[-2:]):
            sentences.append(FOLLOW_UP)
        ctx.memory.last_day = summary.day
        return Reply(sentences=lead + sentences, expect=Expect.DRILL)

    async def drill_down(self, intent: Intent, ctx: TurnContext) -> Reply:
        kind = intent.kind or "correlate"
        day = intent.day or ctx.memory.last_day or (ctx.today - timedelta(days=1)).isoformat()
        report = self.reports.findings(ctx.owner, day)
        ctx.memory.last_day = day
        return Reply(sentences=answers.drill_down(report, kind, day, self.timezone), expect=Expect.DRILL)

    async def volume(self, intent: Intent, ctx: TurnContext) -> Reply:
        try:
            if "volume" in intent.args:
                target = int(intent.args["volume"])
            else:
                status = await ctx.device.call_device_tool(STATUS_TOOL, {})
                current = _current_volume(status)
                target = current + int(intent.args.get("delta", 10))
            target = max(0, min(100, target))
            await ctx.device.call_device_tool(VOLUME_TOOL, {"volume": target})
        except DeviceToolMissing as exc:
            log.warning("volume change impossible on %s: %s", ctx.device.info.device_id, exc)
            return Reply.say("这台设备没有提供音量控制功能，请在设备上直接调节音量。", emotion="sad")
        except (DeviceToolError, ValueError, TypeError) as exc:
            log.warning("volume change failed on %s: %s", ctx.device.info.device_id, exc)
            return Reply.say("抱歉，调节音量失败了。", emotion="sad")
        return Reply.say(f"音量已调到{target}。")

    async def chat(self, intent: Intent, ctx: TurnContext) -> Reply:
        text = intent.text
        if any(w in text for w in ("星期几", "周几", "礼拜几", "几号", "日期", "今天几月")):
            d = ctx.today
            return Reply.say(f"今天是{d.year}年{d.month}月{d.day}日，星期{WEEKDAYS[d.weekday()]}。")
        return Reply.say(*HELP)


def _current_volume(status: Any) -> int:
    """The device answers get_device_status with a JSON string (firmware) or an object."""
    if isinstance(status, str):
        status = json.loads(status)
    if isinstance(status, dict) and "content" in status:  # raw MCP result
        status = json.loads(status["content"][0]["text"])
    return int(status["audio_speaker"]["volume"])
