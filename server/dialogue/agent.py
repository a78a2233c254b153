"""The dialogue agent: one OpenAI-compatible tool-calling loop over an in-process MCP client session.

A turn streams: the LLM's text is cut into sentences as it arrives and the first sentence goes to TTS
while the rest is still being written. Tools run through the same MCP server external clients use
(in-memory transport), pinned to the speaker's reports and device. The loop has a step limit; the answer
is bounded to ~45 s of speech and ends with a next-step question. Whenever the LLM is missing, down
(circuit open), slow or failing, the turn gets the deterministic answer built from the findings and the
index instead: a turn never fails because of the LLM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from string import Template
from typing import TYPE_CHECKING, Any

from agents.llm import LLMClient, LLMError, LLMTimeoutError
from prompts import load_prompt
from server.dialogue import answers
from server.dialogue.answers import KIND_NAMES, NEXT_STEP, day_cn
from server.dialogue.mcp_client import InProcessMcp
from server.dialogue.memory import ChatMessage
from server.dialogue.replies import Reply
from server.dialogue.skills import Skill, TurnContext
from server.dialogue.spoken import SentenceStream, SpokenBudget
from server.dialogue.tool_loop import AgentConfig, AgentRun, ToolLoop
from server.intent.matcher import normalize
from server.intent.models import Expect, Intent
from server.intent.yesno import YesNo, yes_no
from server.tools.base import AGENT_ACTOR, Caller, ToolRegistry
from server.tools.context import ToolContext
from server.tools.mcp_server import build_mcp_server
from server.tools.toolsets import build_registry

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger(__name__)

CHAT_NEXT = "还有什么想了解的吗？"
CUT_SHORT = "后面的内容暂时获取不到。"
ADVICE_WORDS = ("建议", "怎么处理", "怎么办", "如何处理", "怎么修", "要不要回滚", "处理方案")


def _prompt(name: str) -> Template:
    return load_prompt(name)


class DialogueAgent:
    def __init__(
        self,
        ctx: ToolContext,
        llm: LLMClient | None,
        registry: ToolRegistry | None = None,
        config: AgentConfig | None = None,
    ) -> None:
        self.ctx = ctx
        self.llm = llm
        self.registry = registry or build_registry()
        self.config = config or AgentConfig()
        self.mcp = InProcessMcp(build_mcp_server(ctx, self.registry, Caller(actor=AGENT_ACTOR, ai=True)))
        self.system_t = _prompt("agent_system.txt")
        self.drill_t = _prompt("agent_drill.txt")
        self.advice_t = _prompt("agent_advice.txt")
        self.runs: deque[AgentRun] = deque(maxlen=50)
        self.tools = ToolLoop(llm, self.mcp, self.registry, self.config)
        self.base_chat: Skill | None = None  # the deterministic chat, when the LLM fails (skill_table)

    # ---------------------------------------------------------------- skills

    async def drill_down(self, intent: Intent, turn: TurnContext) -> Reply:
        kind = intent.kind or "correlate"
        day = intent.day or turn.memory.last_day or (turn.today - timedelta(days=1)).isoformat()
        wants_advice = kind == "correlate" and (
            any(w in intent.text for w in ADVICE_WORDS)
            or (turn.memory.last_drill == "correlate" and yes_no(normalize(intent.text)) is YesNo.YES)
        )
        turn.memory.last_day = day
        turn.memory.last_drill = "advice" if wants_advice else kind
        report = await asyncio.to_thread(self.ctx.reports.findings, turn.owner, day)
        next_step = answers.ADVICE_NEXT if wants_advice else NEXT_STEP.get(kind, CHAT_NEXT)

        async def deterministic() -> list[str]:
            if wants_advice:
                return answers.advice(report, day, self.ctx.settings.timezone)
            evidence = await self._evidence(report, kind, turn.owner, day) if kind != "correlate" else None
            return answers.drill_down(report, kind, day, self.ctx.settings.timezone, evidence=evidence)

        if self.llm is None or report is None:
            return Reply(sentences=await deterministic(), expect=Expect.DRILL)
        if wants_advice:
            question = self.advice_t.substitute(utterance=intent.text, day_cn=day_cn(day))
            seed = ("correlate_logs", {"day": day})
        else:
            question = self.drill_t.substitute(
                utterance=intent.text, day_cn=day_cn(day), kind_name=KIND_NAMES.get(kind, "日志")
            )
            seed = (
                ("correlate_logs", {"day": day})
                if kind == "correlate"
                else ("analyze_log_type", {"kind": kind, "day": day})
            )
        return await self.answer(
            question, turn, next_step=next_step, fallback=deterministic, seed=seed, expect=Expect.DRILL
        )

    async def chat(self, intent: Intent, turn: TurnContext) -> Reply:
        async def deterministic() -> list[str]:
            if self.base_chat is not None:
                return (await self.base_chat(intent, turn)).sentences
            return ["抱歉，我现在没法回答这个问题。", "你可以说：开始播报日志。"]

        if self.llm is None:
            return Reply(sentences=await deterministic())
        return await self.answer(intent.text, turn, next_step=CHAT_NEXT, fallback=deterministic)

    # ---------------------------------------------------------------- the loop

    async def answer(
        self,
        question: str,
        turn: TurnContext,
        *,
        next_step: str,
        fallback: Callable[[], Awaitable[list[str]]],
        seed: tuple[str, dict[str, str]] | None = None,
        expect: Expect = Expect.NOTHING,
    ) -> Reply:
        """A Reply whose ``stream`` yields the LLM answer sentence by sentence (or the fallback)."""
        run = AgentRun(owner=turn.owner, question=question)
        self.runs.append(run)
        if self.llm is None or self.llm.breaker.state == "open":
            run.fallback = "no LLM" if self.llm is None else "LLM circuit open"
            return Reply(sentences=await fallback(), expect=expect)
        caller = Caller(actor=AGENT_ACTOR, ai=True, owner=turn.owner, device_id=turn.device.info.device_id)
        messages = [{"role": "system", "content": self._system(turn)}, *self._history(turn)]
        messages.append({"role": "user", "content": question})
        if seed is not None:
            await self.tools.seed(messages, seed, caller, run)
        stream = self._speak(run, messages, caller, turn, question, next_step, fallback)
        return Reply(stream=stream, expect=expect)

    def _system(self, turn: TurnContext) -> str:
        now = datetime.now(self.ctx.tz)
        return self.system_t.substitute(
            now=now.strftime("%Y-%m-%d %H:%M"),
            timezone=self.ctx.settings.timezone,
            owner=turn.owner,
            max_chars=self.config.max_answer_chars,
        )

    def _history(self, turn: TurnContext) -> list[dict[str, str]]:
        hist = turn.memory.agent_history.setdefault(turn.owner, deque(maxlen=2 * self.config.history_turns))
        out: list[ChatMessage] = []
        total = 0
        for msg in reversed(hist):  # newest first until the character budget is used
            total += len(msg.content)
            if total > self.config.history_chars:
                break
            out.append(msg)
        out.reverse()
        if out and out[0].role == "assistant":
            out = out[1:]
        return [{"role": m.role, "content": m.content} for m in out]

    def _remember(self, turn: TurnContext, question: str, answer: str) -> None:
        hist = turn.memory.agent_history.setdefault(turn.owner, deque(maxlen=2 * self.config.history_turns))
        hist.append(ChatMessage("user", question))
        hist.append(ChatMessage("assistant", answer))

    async def _speak(
        self,
        run: AgentRun,
        messages: list[dict[str, Any]],
        caller: Caller,
        turn: TurnContext,
        question: str,
        next_step: str,
        fallback: Callable[[], Awaitable[list[str]]],
    ) -> AsyncIterator[str]:
        """Sentences for TTS. The loop runs in its own task so that TTS back-pressure (the speaker
        waits for playback) never counts against the LLM's deadlines, and vice versa."""
        # a text fragment, None when the answer is complete, or the exception that ended the loop
        queue: asyncio.Queue[str | Exception | None] = asyncio.Queue()

        async def produce() -> None:
            try:
                async for fragment in self.tools.run(messages, caller, run):
                    await queue.put(fragment)
                await queue.put(None)
            except Exception as exc:  # LLM down/timeout/bad answer, MCP trouble: the consumer falls back
                await queue.put(exc)

        producer = asyncio.create_task(produce(), name="agent-loop")
        splitter = SentenceStream()
        budget = SpokenBudget(self.config.max_answer_chars, reserve=len(next_step))
        error: BaseException | None = None
        try:
            while not budget.full:
                wait = self.config.stall_timeout_s if budget.spoken else self.config.first_sentence_timeout_s
                item: str | Exception | None
                try:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel (barge-in) that
                    # races the next sentence, and the answer would keep talking
                    async with asyncio.timeout(wait):
                        item = await queue.get()
                except TimeoutError:
                    item = LLMTimeoutError(f"no sentence within {wait:.0f}s")
                if isinstance(item, Exception):
                    error = item
                    break
                pieces = splitter.feed(item) if item is not None else splitter.flush()
                for sentence in pieces:
                    if (admitted := budget.take(sentence)) is not None:
                        if run.first_sentence_s is None:
                            run.first_sentence_s = round(time.monotonic() - run.started, 3)
                        yield admitted
                    if budget.full:
                        break
                if item is None:
                    break
            if error is not None:
                log.warning("agent turn for %s fell back: %s", run.owner, error)
                run.fallback = f"{type(error).__name__}: {error}"[:200]
                if not budget.spoken:
                    for sentence in await fallback():
                        yield sentence
                    return
                yield CUT_SHORT
            closing = budget.closing(next_step)
            if closing:
                yield closing
            run.answer = budget.text
            self._remember(turn, question, budget.text)
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer

    # ---------------------------------------------------------------- evidence

    async def _evidence(
        self, report: dict[str, Any] | None, kind: str, owner: str, day: str
    ) -> list[dict[str, Any]]:
        """Templates that back a drill-down: the open vector index when it answers fast, else the day's
        template table from findings.json (the same templates the index holds)."""
        hits: list[dict[str, Any]] = []
        index = self.ctx.index  # only an index that is already open: never load models on the hot path
        if index is not None:
            try:
                raw = await asyncio.wait_for(
                    asyncio.to_thread(
                        index.search, "错误 失败 异常 error failed", 3, kind, owner, day, "template"
                    ),
                    self.config.index_timeout_s,
                )
                hits = [h for h in raw if str(h.get("level", "")).upper() in ("ERROR", "FATAL")]
            except Exception as exc:
                log.info("index evidence skipped: %s", exc)
        return hits or answers.template_evidence(report, kind)

    async def close(self) -> None:
        await self.mcp.close()


def build_agent(ctx: ToolContext, llm: LLMClient | None, config: AgentConfig | None = None) -> DialogueAgent:
    return DialogueAgent(ctx, llm, config=config)


def llm_from_settings(settings: Settings) -> LLMClient | None:
    """The dialogue's LLM client when one is configured (None → deterministic answers)."""
    if not settings.llm_enabled:
        return None
    from agents.llm import LLMConfig

    try:
        return LLMClient(
            LLMConfig(
                base_url=settings.llm_base_url,
                api_key=settings.llm_api_key.get_secret_value(),
                model=settings.llm_model,
                timeout_s=settings.llm_timeout_s,
                requests_per_minute=settings.llm_requests_per_minute,
            )
        )
    except LLMError as exc:
        log.warning("dialogue LLM not available: %s", exc)
        return None
