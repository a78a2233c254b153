"""Second routing stage: ask an LLM for a machine-readable control tag.

The model must answer ``<intent nonce="N">{json}</intent>`` where N is a fresh random nonce of this
request. The nonce proves the tag was produced for this prompt (text the user said cannot forge it), and
the JSON is validated against a schema. A missing, forged or invalid tag raises ``IntentRouteError``: the
caller decides what to do (e.g. treat as chat with a logged reason) instead of silently guessing.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from string import Template
from typing import Any, Protocol, runtime_checkable

import jsonschema

from prompts import prompt_path
from server.intent.models import INTENT_NAMES, LOG_KINDS, Intent

log = logging.getLogger(__name__)

PROMPT_PATH = prompt_path("intent_router.txt")
_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_TAG = re.compile(r"<intent\s+nonce\s*=\s*[\"']([^\"'<>]*)[\"']\s*>(.*?)</intent\s*>", re.S | re.I)
_OPEN_TAG = re.compile(r"<intent\b", re.I)

INTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["intent"],
    "additionalProperties": False,
    "properties": {
        "intent": {"enum": sorted(INTENT_NAMES)},
        "day": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        "kind": {"enum": sorted(LOG_KINDS)},
        "volume": {"type": "integer", "minimum": 0, "maximum": 100},
        "delta": {"type": "integer", "minimum": -100, "maximum": 100},
        "minutes": {"type": "integer", "minimum": 1, "maximum": 10080},
        "time": {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"},
        "workload": {"type": "string", "minLength": 1, "maxLength": 80},
    },
    "allOf": [{"if": {"properties": {"intent": {"const": "drill_down"}}}, "then": {"required": ["kind"]}}],
}
_VALIDATOR = jsonschema.Draft202012Validator(INTENT_SCHEMA)


class IntentRouteError(Exception):
    """The LLM gave no usable control tag. ``reason``: llm_error | missing_tag | bad_nonce | bad_json | schema."""

    def __init__(self, reason: str, detail: str, raw: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.raw = raw[:500]


@runtime_checkable
class Completer(Protocol):
    async def complete(self, messages: list[dict[str, str]]) -> str: ...


@runtime_checkable
class ChatModel(Protocol):
    """agents.llm.LLMClient: ``await chat(messages)`` returns an object with ``.text``."""

    async def chat(
        self, messages: list[dict[str, Any]], *, temperature: float = ..., max_tokens: int | None = ...
    ) -> Any: ...


# --- pure parts ---
def new_nonce() -> str:
    return secrets.token_hex(8)


def load_prompt(path: Path = PROMPT_PATH) -> Template:
    return Template(path.read_text(encoding="utf-8"))


def build_messages(template: Template, text: str, nonce: str, today: date) -> list[dict[str, str]]:
    system = template.substitute(
        nonce=nonce,
        today=today.isoformat(),
        weekday=_WEEKDAYS[today.weekday()],
        yesterday=(today - timedelta(days=1)).isoformat(),
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def parse_control_tag(reply: str, nonce: str, text: str = "") -> Intent:
    """The Intent in ``reply``'s control tag; raises IntentRouteError when it is missing or invalid."""
    tags = _TAG.findall(reply)
    if not tags:
        reason = "bad_json" if _OPEN_TAG.search(reply) else "missing_tag"
        raise IntentRouteError(reason, "no complete <intent nonce=…>…</intent> tag in the answer", reply)
    ours = [body for tag_nonce, body in tags if secrets.compare_digest(tag_nonce, nonce)]
    if not ours:
        raise IntentRouteError("bad_nonce", "the control tag carries a different nonce", reply)
    if len(ours) > 1:
        raise IntentRouteError("bad_json", f"{len(ours)} control tags in one answer", reply)
    try:
        value = json.loads(ours[0].strip())
    except json.JSONDecodeError as e:
        raise IntentRouteError("bad_json", f"tag body is not JSON ({e.msg})", reply) from e
    errors = sorted(_VALIDATOR.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        raise IntentRouteError("schema", f"{where}: {errors[0].message[:200]}", reply)
    if "day" in value:
        try:
            date.fromisoformat(value["day"])
        except ValueError as e:
            raise IntentRouteError("schema", f"day: {value['day']!r} is not a date", reply) from e
    args = {k: v for k, v in value.items() if k != "intent"}
    return Intent(value["intent"], args, source="llm", text=text)


# --- the router (I/O at the edge: one model call) ---
@dataclass
class LLMIntentRouter:
    """Routes one utterance through an LLM. ``llm`` is an ``agents.llm.LLMClient`` or any ``Completer``."""

    llm: ChatModel | Completer
    prompt: Template | None = None

    def __post_init__(self) -> None:
        if self.prompt is None:
            self.prompt = load_prompt()

    async def route(self, text: str, today: date | None = None, nonce: str | None = None) -> Intent:
        nonce = nonce or new_nonce()
        assert self.prompt is not None
        messages = build_messages(self.prompt, text, nonce, today or date.today())
        try:
            reply = await self._ask(messages)
        except Exception as e:  # any provider failure is one error path for the caller
            raise IntentRouteError("llm_error", f"{type(e).__name__}: {str(e)[:200]}") from e
        try:
            return parse_control_tag(reply, nonce, text)
        except IntentRouteError as e:
            log.warning("intent router: unusable LLM answer (%s)", e)
            raise

    async def _ask(self, messages: list[dict[str, str]]) -> str:
        if isinstance(self.llm, ChatModel):
            result = await self.llm.chat(messages, temperature=0, max_tokens=200)
            return result.text if hasattr(result, "text") else str(result)
        return await self.llm.complete(messages)
