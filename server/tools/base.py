"""Tools as data: a name, a description, a JSON schema and a handler, grouped into toolsets.

Every entry point (the MCP server over stdio/HTTP, the in-process dialogue agent) runs tools through
``ToolRegistry.call``: arguments are validated against the schema first (a clear error, never a crash),
handler errors become tool errors, and the output is trimmed to a token budget before any model sees it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jsonschema

if TYPE_CHECKING:
    from server.tools.context import ToolContext

log = logging.getLogger(__name__)

AGENT_ACTOR = "agent"  # the in-process dialogue LLM (an AI actor for the case FSM)
DEFAULT_BUDGET_TOKENS = 1500  # per tool result; a few results must fit one small-model context
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


class ToolError(Exception):
    """A problem the caller can fix or should know about (bad id, nothing found, guard refused)."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: the in-process agent is an AI and may only read and propose."""

    actor: str = "mcp"
    ai: bool = True
    owner: str | None = None  # when set, owner-scoped tools are pinned to this owner
    device_id: str | None = None  # when set, device tools act on this device only


Handler = Callable[["ToolContext", dict[str, Any], Caller], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]
    handler: Handler
    toolset: str = ""
    read_only: bool = True
    agent_visible: bool = True  # offered to the dialogue LLM (confirm_action is not: an LLM only proposes)
    owner_scoped: bool = False  # takes an `owner` argument that the agent pins to the speaker


@dataclass(frozen=True)
class Toolset:
    name: str
    description: str
    tools: tuple[ToolSpec, ...]


@dataclass
class ToolOutcome:
    name: str
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)  # structured result (or {"error": ...})
    text: str = ""  # the trimmed JSON text a model sees
    truncated: bool = False
    seconds: float = 0.0


def approx_tokens(text: str) -> int:
    """Rough token count without a tokenizer: a CJK character ≈ 1 token, other text ≈ 4 chars a token."""
    cjk = len(_CJK.findall(text))
    return cjk + (len(text) - cjk + 3) // 4


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _longest_list(value: object, path: tuple[str | int, ...] = ()) -> tuple[tuple[str | int, ...], int]:
    best: tuple[tuple[str | int, ...], int] = ((), -1)
    items: Iterable[tuple[str | int, object]]
    if isinstance(value, list):
        best = (path, len(value))
        items = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    else:
        return best
    for k, v in items:
        cand = _longest_list(v, (*path, k))
        if cand[1] > best[1]:
            best = cand
    return best


def _clip_strings(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, list):
        return [_clip_strings(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: _clip_strings(v, limit) for k, v in value.items()}
    return value


def trim_to_budget(
    value: dict[str, Any], max_tokens: int = DEFAULT_BUDGET_TOKENS
) -> tuple[dict[str, Any], bool]:
    """Shrink a result until its JSON fits ``max_tokens``: long strings first, then the longest list is
    halved (keeping its head, which tools order best-first), repeatedly. Returns (value, truncated)."""
    if approx_tokens(_dumps(value)) <= max_tokens:
        return value, False
    value = _clip_strings(value, 300)
    dropped: dict[str, int] = {}
    for _ in range(40):
        if approx_tokens(_dumps(value)) <= max_tokens:
            break
        path, n = _longest_list(value)
        if n <= 1:
            value = _clip_strings(value, 80)
            if approx_tokens(_dumps(value)) <= max_tokens:
                break
            text = _dumps(value)
            return {"truncated_text": text[: max_tokens * 2]}, True
        parent: Any = value
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1] if path else None
        lst = parent[key] if key is not None else parent
        keep = n // 2
        dropped[".".join(str(p) for p in path)] = dropped.get(".".join(str(p) for p in path), 0) + n - keep
        if key is None:
            break
        parent[key] = lst[:keep]
    value["_truncated"] = {"omitted_items": dropped}
    return value, True


class ToolRegistry:
    """All tools of all toolsets, by name. The one place tools are validated and run."""

    def __init__(self, toolsets: list[Toolset], budget_tokens: int = DEFAULT_BUDGET_TOKENS) -> None:
        self.toolsets = toolsets
        self.budget_tokens = budget_tokens
        self.tools: dict[str, ToolSpec] = {}
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        for ts in toolsets:
            for spec in ts.tools:
                if spec.name in self.tools:
                    raise ValueError(f"duplicate tool name {spec.name}")
                jsonschema.Draft202012Validator.check_schema(spec.input_schema)
                self.tools[spec.name] = spec
                self._validators[spec.name] = jsonschema.Draft202012Validator(spec.input_schema)

    def specs(self, *, agent: bool = False) -> list[ToolSpec]:
        return [s for s in self.tools.values() if s.agent_visible or not agent]

    def validate(self, name: str, arguments: object) -> list[str]:
        """Problems with ``arguments`` for tool ``name`` (empty list = valid)."""
        if name not in self.tools:
            return [f"unknown tool '{name}'; available: {', '.join(sorted(self.tools))}"]
        if not isinstance(arguments, dict):
            return ["arguments must be a JSON object"]
        problems = []
        for err in sorted(self._validators[name].iter_errors(arguments), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in err.absolute_path) or "arguments"
            problems.append(f"{where}: {err.message[:200]}")
            if len(problems) >= 5:
                break
        return problems

    async def call(
        self, ctx: ToolContext, name: str, arguments: Any, caller: Caller | None = None
    ) -> ToolOutcome:
        caller = caller or Caller()
        started = time.monotonic()
        args = {} if arguments is None else arguments
        problems = self.validate(name, args)
        if problems:
            return self._error(name, "invalid arguments: " + "; ".join(problems), started)
        spec = self.tools[name]
        if caller.actor == AGENT_ACTOR and not spec.agent_visible:
            return self._error(
                name, f"{name} is not available to the assistant: an AI may only propose", started
            )
        if spec.owner_scoped and caller.owner is not None:
            args = {**args, "owner": caller.owner}  # the speaker's reports only, whatever the model asked
        try:
            data = await spec.handler(ctx, args, caller)
        except ToolError as exc:
            return self._error(name, str(exc), started)
        except Exception as exc:  # a tool bug must not take the session (or the server) down
            log.exception("tool %s failed", name)
            return self._error(name, f"internal error in {name}: {type(exc).__name__}", started)
        trimmed, truncated = trim_to_budget(data, self.budget_tokens)
        return ToolOutcome(
            name, True, trimmed, _dumps(trimmed), truncated, round(time.monotonic() - started, 4)
        )

    @staticmethod
    def _error(name: str, message: str, started: float) -> ToolOutcome:
        data = {"error": message}
        return ToolOutcome(name, False, data, _dumps(data), False, round(time.monotonic() - started, 4))
