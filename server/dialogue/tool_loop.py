"""The LLM tool-calling loop: the model asks for tools, the MCP client runs them (owner and device pinned),
results go back to the model, until it answers or the step budget is spent."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agents.llm import LLMClient, LLMError, ToolCall
from server.dialogue.mcp_client import InProcessMcp
from server.dialogue.spoken import MAX_ANSWER_CHARS
from server.tools.base import Caller, ToolRegistry


@dataclass
class AgentConfig:
    max_steps: int = 4  # LLM calls that may request tools; one more call then must answer
    history_turns: int = 6  # per owner, per session
    history_chars: int = 2400
    max_answer_chars: int = MAX_ANSWER_CHARS
    llm_timeout_s: float = 10.0  # per LLM call
    first_sentence_timeout_s: float = 15.0  # nothing to say by then → deterministic answer
    stall_timeout_s: float = 10.0  # gap between sentences once speaking
    tool_timeout_s: float = 8.0
    index_timeout_s: float = 0.3  # index evidence on the no-LLM hot path
    temperature: float = 0.2
    max_tokens: int = 400


@dataclass
class AgentRun:
    """What one agent turn did (for logs, the console and tests)."""

    owner: str
    question: str
    started: float = field(default_factory=time.monotonic)
    steps: int = 0
    tool_calls: list[tuple[str, bool]] = field(default_factory=list)  # (tool, ok)
    limit_reached: bool = False
    fallback: str | None = None  # why the deterministic answer was used
    first_sentence_s: float | None = None
    answer: str = ""


class ToolLoop:
    def __init__(
        self, llm: LLMClient | None, mcp: InProcessMcp, registry: ToolRegistry, config: AgentConfig
    ) -> None:
        self.llm = llm
        self.mcp = mcp
        self.registry = registry
        self.config = config
        self._tools: list[dict[str, Any]] | None = None

    async def openai_tools(self) -> list[dict[str, Any]]:
        """The MCP server's tool list as OpenAI functions, minus what the model must not choose
        (confirm_action; the owner and device arguments, which the agent pins)."""
        if self._tools is None:
            listed = await self.mcp.list_tools()
            tools = []
            for t in listed:
                spec = self.registry.tools.get(t.name)
                if spec is None or not spec.agent_visible:
                    continue
                schema = json.loads(json.dumps(t.input_schema))
                for pinned in ("owner", "device_id"):
                    schema.get("properties", {}).pop(pinned, None)
                    if pinned in schema.get("required", []):
                        schema["required"].remove(pinned)
                tools.append(
                    {
                        "type": "function",
                        "function": {
                            "name": t.name,
                            "description": t.description or "",
                            "parameters": schema,
                        },
                    }
                )
            self._tools = tools
        return self._tools

    def _pin(self, name: str, args: dict[str, Any], caller: Caller) -> dict[str, Any]:
        spec = self.registry.tools.get(name)
        if spec is not None and spec.owner_scoped:
            args = {**args, "owner": caller.owner}
        if spec is not None and spec.toolset == "device" and caller.device_id:
            args = {**args, "device_id": caller.device_id}
        return args

    async def _run_tool(self, call: ToolCall, caller: Caller, run: AgentRun) -> str:
        try:
            args = call.parsed_arguments()
        except LLMError as exc:
            run.tool_calls.append((call.name, False))
            return json.dumps({"error": f"{exc}; send the arguments as a JSON object"}, ensure_ascii=False)
        ok, text = await self.mcp.call_tool(
            call.name, self._pin(call.name, args, caller), self.config.tool_timeout_s
        )
        run.tool_calls.append((call.name, ok))
        return text

    async def seed(
        self, messages: list[dict[str, Any]], seed: tuple[str, dict[str, Any]], caller: Caller, run: AgentRun
    ) -> None:
        """Run the tool every answer of this kind needs before asking the model: saves one LLM round."""
        name, args = seed
        call = ToolCall(id="call_seed_0", name=name, arguments=json.dumps(args))
        text = await self._run_tool(call, caller, run)
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": name, "arguments": call.arguments},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call.id, "content": text})

    async def run(self, messages: list[dict[str, Any]], caller: Caller, run: AgentRun) -> AsyncIterator[str]:
        """The tool-calling loop; yields answer text fragments as the model streams them."""
        assert self.llm is not None
        tools = await self.openai_tools()
        for step in range(self.config.max_steps + 1):
            final = step == self.config.max_steps
            if final:
                run.limit_reached = True
                messages.append(
                    {
                        "role": "system",
                        "content": "工具调用次数已用完。请只根据上面已有的工具结果直接回答用户。",
                    }
                )
            run.steps += 1
            calls: list[ToolCall] = []
            text = ""
            async for delta in self.llm.stream_chat(
                messages,
                None if final else tools,
                temperature=self.config.temperature,
                max_tokens=self.config.max_tokens,
                timeout=self.config.llm_timeout_s,
            ):
                if delta.text:
                    text += delta.text
                    yield delta.text
                if delta.done:
                    calls = [c for c in delta.tool_calls if c.name]
            if not calls:
                return
            messages.append(
                {
                    "role": "assistant",
                    "content": text or None,
                    "tool_calls": [
                        {
                            "id": c.id or f"call_{step}_{i}",
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments or "{}"},
                        }
                        for i, c in enumerate(calls)
                    ],
                }
            )
            for i, c in enumerate(calls):
                content = await self._run_tool(c, caller, run)
                messages.append(
                    {"role": "tool", "tool_call_id": c.id or f"call_{step}_{i}", "content": content}
                )
