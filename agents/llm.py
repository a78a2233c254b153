"""One adapter for every OpenAI-compatible chat model the project talks to.

Wraps the official `openai.AsyncOpenAI` client with what a voice product needs from a remote model:
a token-bucket rate limit, a per-call timeout, short retries on 429/5xx, a circuit breaker so a dead
provider fails fast (and the caller falls back to deterministic behaviour), JSON-schema validated
answers, and Prometheus counters for calls, tokens and cost. The API key is never logged or repr'd.

Agents cannot import `server`, so the server builds an `LLMConfig` from its settings and passes it in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import openai
from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# --- metrics (module level: prometheus_client registers each name once per process) ---
LLM_REQUESTS = Counter("xops_llm_requests", "LLM calls by outcome", ["model", "outcome"])
LLM_TOKENS = Counter("xops_llm_tokens", "LLM tokens used", ["model", "type"])
LLM_COST = Counter("xops_llm_cost", "Estimated LLM cost in the configured currency", ["model"])
LLM_LATENCY = Histogram(
    "xops_llm_latency_seconds",
    "LLM call latency (whole call incl. retries)",
    ["model"],
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)


# --- errors ---
class LLMError(Exception):
    """Any failure the caller should treat as "no LLM answer" (and fall back)."""


class LLMTimeoutError(LLMError):
    pass


class LLMUnavailableError(LLMError):
    """Circuit breaker is open: the provider failed repeatedly; not even trying."""


class LLMSchemaError(LLMError):
    """The model's JSON answer did not validate, even after one corrective retry."""


# --- config and results ---
@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    api_key: str = field(default="", repr=False)
    model: str = "gpt-4o-mini"
    timeout_s: float = 20.0
    requests_per_minute: float = 30.0
    burst: int = 3  # bucket size: a short burst (router + analyst) is fine, sustained load is not
    max_retries: int = 2  # on 429 / 5xx / connection errors
    backoff_s: float = 0.5  # first backoff, doubled per retry, capped by max_backoff_s
    max_backoff_s: float = 4.0
    breaker_failures: int = 5  # consecutive failed calls that open the breaker
    breaker_cooldown_s: float = 30.0  # open → half-open after this long
    json_mode: str = "json_object"  # "json_object" | "json_schema" | "none" (what the provider supports)
    price_in_per_1k: float = 0.0  # for the cost counter
    price_out_per_1k: float = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.base_url and self.model)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text as the model produced it

    def parsed_arguments(self) -> dict[str, Any]:
        """Arguments as a dict; raises LLMError when the model produced invalid JSON."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as e:
            raise LLMError(f"tool call {self.name}: arguments are not JSON: {e}") from e
        if not isinstance(value, dict):
            raise LLMError(f"tool call {self.name}: arguments are not an object")
        return value


@dataclass
class ChatResult:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    model: str = ""


@dataclass
class ToolCallDelta:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""  # fragment to append


@dataclass
class Delta:
    """One streaming step. The final delta has `done=True` and carries the assembled tool calls."""

    text: str = ""
    tool_call_deltas: list[ToolCallDelta] = field(default_factory=list)
    finish_reason: str | None = None
    done: bool = False
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None


# --- rate limit and breaker (pure-ish, injectable clock so tests need no real waiting) ---
class TokenBucket:
    """Token bucket: `rate_per_min` tokens per minute, at most `burst` saved up."""

    def __init__(
        self, rate_per_min: float, burst: int = 1, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ):
        if rate_per_min <= 0:
            raise ValueError("rate_per_min must be > 0")
        self.rate = rate_per_min / 60.0
        self.capacity = float(max(1, burst))
        self.tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now

    def wait_time(self) -> float:
        """Seconds until one token is available (0 if one is available now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    async def acquire(self) -> float:
        """Take one token, sleeping as needed. Returns the seconds waited."""
        waited = 0.0
        async with self._lock:  # FIFO-ish: callers queue instead of all waking at once
            while (w := self.wait_time()) > 0:
                await self._sleep(w)
                waited += w
            self.tokens -= 1
        return waited


class CircuitBreaker:
    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, failures: int, cooldown_s: float, clock: Clock = time.monotonic):
        self.threshold = max(1, failures)
        self.cooldown = cooldown_s
        self._clock = clock
        self._state = self.CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        if self._state == self.OPEN and self._clock() - self._opened_at >= self.cooldown:
            self._state = self.HALF_OPEN
            self._trial_in_flight = False
        return self._state

    def before_call(self) -> None:
        """Raise LLMUnavailableError when calls must not be attempted now."""
        state = self.state
        if state == self.OPEN:
            left = self.cooldown - (self._clock() - self._opened_at)
            raise LLMUnavailableError(
                f"LLM circuit open after {self._consecutive} failures; retry in {left:.0f}s"
            )
        if state == self.HALF_OPEN:
            if self._trial_in_flight:
                raise LLMUnavailableError("LLM circuit half-open: a trial call is already in flight")
            self._trial_in_flight = True

    def record_success(self) -> None:
        self._state, self._consecutive, self._trial_in_flight = self.CLOSED, 0, False

    def record_failure(self) -> None:
        self._consecutive += 1
        self._trial_in_flight = False
        if self._state == self.HALF_OPEN or self._consecutive >= self.threshold:
            if self._state != self.OPEN:
                log.warning("LLM circuit breaker opened after %d consecutive failures", self._consecutive)
            self._state = self.OPEN
            self._opened_at = self._clock()


# --- JSON helpers (pure) ---
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def extract_json(text: str) -> Any:
    """Parse a model's JSON answer, tolerating ```json fences and prose around one object."""
    s = text.strip()
    if m := _FENCE.match(s):
        s = m.group(1)
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        start, end = s.find("{"), s.rfind("}")
        if start != -1 and end > start:
            return json.loads(s[start : end + 1])  # raises JSONDecodeError if still bad
        raise


def validation_problems(value: Any, schema: dict[str, Any], limit: int = 5) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        problems.append(f"{where}: {err.message[:200]}")
        if len(problems) >= limit:
            break
    return problems


_RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)


class LLMClient:
    """Async chat client. Safe to share between tasks of one event loop."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        http_client: Any = None,
    ):
        if not config.enabled:
            raise LLMError("LLM not configured (base_url and model are required)")
        self.config = config
        self._sleep = sleep
        self.bucket = TokenBucket(config.requests_per_minute, config.burst, clock=clock, sleep=sleep)
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_cooldown_s, clock=clock)
        # Our own retry loop (it must cooperate with the breaker and metrics), so the SDK's is off.
        self._client = openai.AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "none",  # local servers accept anything; the SDK insists on a value
            timeout=config.timeout_s,
            max_retries=0,
            http_client=http_client,
        )

    @property
    def model(self) -> str:
        return self.config.model

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- public API --
    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        temperature: float = 0,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> ChatResult:
        """One completion. `timeout` overrides the configured per-call timeout (e.g. shorter for routing)."""
        kwargs = self._request_kwargs(messages, tools, response_format, temperature, max_tokens, timeout)
        started = time.monotonic()
        try:
            completion = await self._with_retries(lambda: self._client.chat.completions.create(**kwargs))
        finally:
            LLM_LATENCY.labels(self.model).observe(time.monotonic() - started)
        if not completion.choices:
            raise LLMError("LLM returned no choices")
        choice = completion.choices[0]
        msg = choice.message
        usage = self._usage(completion.usage)
        calls = [
            ToolCall(id=tc.id, name=tc.function.name, arguments=tc.function.arguments or "")
            for tc in (msg.tool_calls or [])
            if getattr(tc, "function", None) is not None
        ]
        return ChatResult(
            text=msg.content or "",
            tool_calls=calls,
            usage=usage,
            finish_reason=choice.finish_reason,
            model=completion.model or self.model,
        )

    async def stream_chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        *,
        temperature: float = 0,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[Delta]:
        """Yield text and tool-call fragments as they arrive; the last Delta has done=True.

        Retries happen only before the first chunk: once text reached the caller (and maybe the
        speaker) a retry would repeat it.
        """
        kwargs = self._request_kwargs(messages, tools, None, temperature, max_tokens, timeout)
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        stream = await self._with_retries(lambda: self._client.chat.completions.create(**kwargs), count=False)
        parts: dict[int, ToolCall] = {}
        usage: Usage | None = None
        finish: str | None = None
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = self._usage(chunk.usage)
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                tcd = []
                for tc in delta.tool_calls or []:
                    fn = tc.function
                    d = ToolCallDelta(
                        index=tc.index,
                        id=tc.id,
                        name=fn.name if fn else None,
                        arguments=(fn.arguments or "") if fn else "",
                    )
                    tcd.append(d)
                    acc = parts.setdefault(tc.index, ToolCall(id="", name="", arguments=""))
                    acc.id = d.id or acc.id
                    acc.name = d.name or acc.name
                    acc.arguments += d.arguments
                finish = choice.finish_reason or finish
                if delta.content or tcd or choice.finish_reason:
                    yield Delta(
                        text=delta.content or "", tool_call_deltas=tcd, finish_reason=choice.finish_reason
                    )
        except openai.APITimeoutError as e:
            self._failed("timeout")
            raise LLMTimeoutError("LLM stream timed out") from e
        except openai.APIError as e:
            self._failed("error")
            raise LLMError(f"LLM stream failed: {type(e).__name__}") from e
        self.breaker.record_success()
        LLM_REQUESTS.labels(self.model, "ok").inc()
        if usage:
            self._account(usage)
        yield Delta(
            done=True, finish_reason=finish, tool_calls=[parts[i] for i in sorted(parts)], usage=usage
        )

    async def complete_json(
        self,
        messages: list[dict[str, Any]],
        schema: dict[str, Any],
        *,
        name: str = "result",
        temperature: float = 0,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Ask for a JSON object matching `schema`; one corrective retry, then LLMSchemaError."""
        jsonschema.Draft202012Validator.check_schema(schema)
        fmt = self._json_format(schema, name)
        convo = list(messages)
        problem = ""
        for attempt in range(2):
            result = await self.chat(
                convo, response_format=fmt, temperature=temperature, max_tokens=max_tokens
            )
            try:
                value = extract_json(result.text)
            except (json.JSONDecodeError, ValueError) as e:
                problem = f"the answer is not valid JSON ({e})"
            else:
                problems = validation_problems(value, schema)
                if not problems and isinstance(value, dict):
                    return value
                problem = "; ".join(problems) or "the answer must be a JSON object"
            log.info("LLM JSON answer invalid (attempt %d): %s", attempt + 1, problem[:300])
            convo = [
                *messages,
                {"role": "assistant", "content": result.text[:8000]},
                {
                    "role": "user",
                    "content": "Your previous answer did not match the required JSON schema: "
                    f"{problem}. Reply again with only the corrected JSON object.",
                },
            ]
        LLM_REQUESTS.labels(self.model, "schema_error").inc()
        raise LLMSchemaError(f"LLM answer did not match the schema after a retry: {problem[:500]}")

    # -- internals --
    def _request_kwargs(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        response_format: dict[str, Any] | None,
        temperature: float,
        max_tokens: int | None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature}
        if timeout:
            kwargs["timeout"] = timeout
        if tools:
            kwargs["tools"] = tools
        if response_format:
            kwargs["response_format"] = response_format
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        return kwargs

    def _json_format(self, schema: dict[str, Any], name: str) -> dict[str, Any] | None:
        mode = self.config.json_mode
        if mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
        if mode == "json_object":
            return {"type": "json_object"}
        return None

    async def _with_retries(self, call: Callable[[], Awaitable[Any]], count: bool = True) -> Any:
        """Run one API call with breaker, rate limit and retries. Raises LLMError subclasses only."""
        self.breaker.before_call()
        attempt = 0
        while True:
            await self.bucket.acquire()
            try:
                result = await call()
            except openai.APITimeoutError as e:  # subclass of APIConnectionError: check first
                self._failed("timeout")
                raise LLMTimeoutError("LLM call timed out") from e
            except _RETRYABLE as e:
                if attempt >= self.config.max_retries:
                    self._failed("error")
                    raise LLMError(f"LLM call failed after {attempt + 1} attempts: {_describe(e)}") from e
                delay = self._backoff(attempt, e)
                log.info("LLM call failed (%s); retry %d in %.2fs", _describe(e), attempt + 1, delay)
                LLM_REQUESTS.labels(self.model, "retry").inc()
                await self._sleep(delay)
                attempt += 1
                continue
            except (
                openai.APIStatusError
            ) as e:  # 4xx other than 429: our request is wrong, retrying won't help
                self.breaker.record_success()  # the provider is up; don't trip the breaker for our bug
                LLM_REQUESTS.labels(self.model, "rejected").inc()
                raise LLMError(f"LLM rejected the request: {_describe(e)}") from e
            except openai.OpenAIError as e:
                self._failed("error")
                raise LLMError(f"LLM call failed: {_describe(e)}") from e
            if count:
                self.breaker.record_success()
                LLM_REQUESTS.labels(self.model, "ok").inc()
                if getattr(result, "usage", None) is not None:
                    self._account(self._usage(result.usage))
            return result

    def _backoff(self, attempt: int, err: Exception) -> float:
        delay = min(self.config.max_backoff_s, self.config.backoff_s * (2.0**attempt))
        response = getattr(err, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            with contextlib.suppress(ValueError):  # honour the server's hint, within our cap
                delay = min(self.config.max_backoff_s, max(delay, float(retry_after)))
        return delay

    def _failed(self, outcome: str) -> None:
        self.breaker.record_failure()
        LLM_REQUESTS.labels(self.model, outcome).inc()

    @staticmethod
    def _usage(u: Any) -> Usage:
        if u is None:
            return Usage()
        return Usage(
            prompt_tokens=u.prompt_tokens or 0,
            completion_tokens=u.completion_tokens or 0,
            total_tokens=u.total_tokens or 0,
        )

    def _account(self, usage: Usage) -> None:
        LLM_TOKENS.labels(self.model, "prompt").inc(usage.prompt_tokens)
        LLM_TOKENS.labels(self.model, "completion").inc(usage.completion_tokens)
        cost = (
            usage.prompt_tokens * self.config.price_in_per_1k
            + usage.completion_tokens * self.config.price_out_per_1k
        ) / 1000
        if cost:
            LLM_COST.labels(self.model).inc(cost)


def _describe(e: Exception) -> str:
    """Short, secret-free description of an SDK error (status code and class, no headers)."""
    status = getattr(e, "status_code", None)
    return f"{type(e).__name__}" + (f" HTTP {status}" if status else "")
