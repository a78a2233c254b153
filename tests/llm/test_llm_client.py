"""LLMClient against a local OpenAI-compatible server speaking the real wire protocol."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import REGISTRY

from agents.llm import (
    CircuitBreaker,
    LLMClient,
    LLMConfig,
    LLMError,
    LLMSchemaError,
    LLMTimeoutError,
    LLMUnavailableError,
    TokenBucket,
    extract_json,
)
from tests.fakes.openai_server import Fail, Reply

SECRET = "sk-test-9f8e7d6c5b4a-very-secret"
USER = [{"role": "user", "content": "昨天有什么异常?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_logs",
            "description": "search indexed log templates",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        },
    }
]
SCHEMA = {
    "type": "object",
    "properties": {"intent": {"enum": ["broadcast", "chat"]}, "day": {"type": "string"}},
    "required": ["intent"],
    "additionalProperties": False,
}


def make(srv, clock=None, **over) -> LLMClient:
    cfg = dict(
        base_url=srv.base_url, api_key=SECRET, model="fake-model", backoff_s=0.01, requests_per_minute=6000
    )
    cfg.update(over)
    if clock is None:
        return LLMClient(LLMConfig(**cfg))
    return LLMClient(LLMConfig(**cfg), clock=clock, sleep=clock.sleep)


async def test_plain_chat_sends_model_messages_and_key(fake_openai):
    fake_openai.push(Reply(text="昨天一切正常。", prompt_tokens=20, completion_tokens=5))
    async with make(fake_openai) as llm:
        res = await llm.chat(USER)
    assert res.text == "昨天一切正常。"
    assert (res.usage.prompt_tokens, res.usage.completion_tokens, res.usage.total_tokens) == (20, 5, 25)
    assert res.finish_reason == "stop" and res.tool_calls == []
    req = fake_openai.requests[0]
    assert req["body"]["model"] == "fake-model"
    assert req["body"]["messages"] == USER
    assert req["body"]["temperature"] == 0
    assert req["headers"]["Authorization"] == f"Bearer {SECRET}"


async def test_key_never_in_repr_or_logs(fake_openai, caplog):
    caplog.set_level(logging.DEBUG)
    fake_openai.push(Fail(500), Reply(text="ok"), Fail(503), Fail(503), Fail(503))
    async with make(fake_openai, max_retries=2) as llm:
        assert SECRET not in repr(llm.config)
        await llm.chat(USER)
        with pytest.raises(LLMError) as ei:
            await llm.chat(USER)
    assert SECRET not in str(ei.value)
    assert SECRET not in caplog.text


async def test_tokens_counted_in_metrics(fake_openai):
    def tokens() -> float:
        return (
            REGISTRY.get_sample_value(
                "xops_llm_tokens_total", {"model": "metrics-model", "type": "completion"}
            )
            or 0
        )

    before = tokens()
    fake_openai.push(Reply(text="a", completion_tokens=42))
    async with make(fake_openai, model="metrics-model", price_out_per_1k=1.0) as llm:
        await llm.chat(USER)
    assert tokens() - before == 42
    assert REGISTRY.get_sample_value("xops_llm_cost_total", {"model": "metrics-model"}) >= 0.042


async def test_streaming_text_arrives_in_pieces(fake_openai):
    text = "昨天共有三个异常，最严重的是支付服务超时。"
    fake_openai.push(Reply(text=text, chunk_chars=4))
    async with make(fake_openai) as llm:
        deltas = [d async for d in llm.stream_chat(USER)]
    pieces = [d.text for d in deltas if d.text]
    assert len(pieces) > 3 and "".join(pieces) == text
    assert deltas[-1].done and deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage is not None and deltas[-1].usage.total_tokens == 18
    assert fake_openai.requests[0]["body"]["stream"] is True


async def test_tool_calls_non_streamed(fake_openai):
    fake_openai.push(Reply(tool_calls=[("search_logs", '{"query": "镜像拉取失败"}')]))
    async with make(fake_openai) as llm:
        res = await llm.chat(USER, tools=TOOLS)
    assert res.finish_reason == "tool_calls"
    assert [c.name for c in res.tool_calls] == ["search_logs"]
    assert res.tool_calls[0].parsed_arguments() == {"query": "镜像拉取失败"}
    assert res.tool_calls[0].id
    assert fake_openai.requests[0]["body"]["tools"] == TOOLS


async def test_tool_calls_streamed_are_assembled(fake_openai):
    args_a = json.dumps({"query": "OOMKilled order-api", "k": 5})
    fake_openai.push(Reply(text="我查一下。", tool_calls=[("search_logs", args_a), ("list_alerts", "{}")]))
    async with make(fake_openai) as llm:
        deltas = [d async for d in llm.stream_chat(USER, tools=TOOLS)]
    fragments = [d for x in deltas for d in x.tool_call_deltas]
    assert len(fragments) > 3  # arguments really arrived in pieces
    final = deltas[-1]
    assert final.done and final.finish_reason == "tool_calls"
    assert [c.name for c in final.tool_calls] == ["search_logs", "list_alerts"]
    assert final.tool_calls[0].parsed_arguments() == {"query": "OOMKilled order-api", "k": 5}
    assert final.tool_calls[1].parsed_arguments() == {}
    assert "".join(d.text for d in deltas) == "我查一下。"


async def test_complete_json_valid(fake_openai):
    fake_openai.push(Reply(text='```json\n{"intent": "broadcast", "day": "2024-05-01"}\n```'))
    async with make(fake_openai) as llm:
        value = await llm.complete_json(USER, SCHEMA)
    assert value == {"intent": "broadcast", "day": "2024-05-01"}
    assert fake_openai.requests[0]["body"]["response_format"] == {"type": "json_object"}


async def test_complete_json_invalid_then_corrected(fake_openai):
    fake_openai.push(Reply(text='{"intent": "reboot"}'), Reply(text='{"intent": "chat"}'))
    async with make(fake_openai) as llm:
        value = await llm.complete_json(USER, SCHEMA)
    assert value == {"intent": "chat"}
    second = fake_openai.requests[1]["body"]["messages"]
    assert second[: len(USER)] == USER
    assert second[-2] == {"role": "assistant", "content": '{"intent": "reboot"}'}
    assert "intent" in second[-1]["content"] and "reboot" in second[-1]["content"]


async def test_complete_json_invalid_twice_raises(fake_openai):
    fake_openai.push(Reply(text="not json at all"), Reply(text='{"intent": "chat", "extra": 1}'))
    async with make(fake_openai) as llm:
        with pytest.raises(LLMSchemaError, match="extra"):
            await llm.complete_json(USER, SCHEMA)
    assert len(fake_openai.requests) == 2


async def test_json_schema_mode_sends_the_schema(fake_openai):
    fake_openai.push(Reply(text='{"intent": "chat"}'))
    async with make(fake_openai, json_mode="json_schema") as llm:
        await llm.complete_json(USER, SCHEMA, name="route")
    rf = fake_openai.requests[0]["body"]["response_format"]
    assert rf == {"type": "json_schema", "json_schema": {"name": "route", "schema": SCHEMA}}


async def test_timeout_raises_llm_timeout(fake_openai):
    fake_openai.push(Reply(text="late", delay=1))
    async with make(fake_openai, timeout_s=0.3) as llm:
        with pytest.raises(LLMTimeoutError):
            await llm.chat(USER)


async def test_per_call_timeout_override(fake_openai):
    fake_openai.push(Reply(text="late", delay=1))
    async with make(fake_openai, timeout_s=30) as llm:
        with pytest.raises(LLMTimeoutError):
            await llm.chat(USER, timeout=0.3)


async def test_429_then_success_retries_with_backoff(fake_openai, clock):
    fake_openai.push(Fail(429, "slow down", headers={"retry-after": "1"}), Reply(text="ok"))
    async with make(fake_openai, clock) as llm:
        res = await llm.chat(USER)
    assert res.text == "ok"
    assert len(fake_openai.requests) == 2
    assert clock.sleeps == [1.0]  # honoured Retry-After (above our 0.01 s base backoff)


async def test_5xx_gives_up_after_max_retries(fake_openai, clock):
    fake_openai.push(Fail(500), Fail(502), Fail(503), Reply(text="never reached"))
    async with make(fake_openai, clock, max_retries=2) as llm:
        with pytest.raises(LLMError, match="3 attempts"):
            await llm.chat(USER)
    assert len(fake_openai.requests) == 3
    assert clock.sleeps == [0.01, 0.02]  # exponential backoff


async def test_400_is_not_retried_and_does_not_trip_breaker(fake_openai, clock):
    fake_openai.push(Fail(400, "bad tools"), Fail(400, "bad tools"), Reply(text="ok"))
    async with make(fake_openai, clock, breaker_failures=2) as llm:
        for _ in range(2):
            with pytest.raises(LLMError, match="rejected"):
                await llm.chat(USER)
        assert llm.breaker.state == CircuitBreaker.CLOSED
        assert (await llm.chat(USER)).text == "ok"
    assert len(fake_openai.requests) == 3


async def test_circuit_breaker_opens_then_half_opens(fake_openai, clock):
    fake_openai.push(Fail(500), Fail(500))
    async with make(fake_openai, clock, max_retries=0, breaker_failures=2, breaker_cooldown_s=30) as llm:
        for _ in range(2):
            with pytest.raises(LLMError):
                await llm.chat(USER)
        assert llm.breaker.state == CircuitBreaker.OPEN
        with pytest.raises(LLMUnavailableError):
            await llm.chat(USER)
        assert len(fake_openai.requests) == 2  # the open breaker did not even call the provider

        clock.now += 31
        assert llm.breaker.state == CircuitBreaker.HALF_OPEN
        fake_openai.push(Fail(500))  # trial call fails → open again immediately
        with pytest.raises(LLMError):
            await llm.chat(USER)
        assert llm.breaker.state == CircuitBreaker.OPEN

        clock.now += 31
        fake_openai.push(Reply(text="back"))
        assert (await llm.chat(USER)).text == "back"
        assert llm.breaker.state == CircuitBreaker.CLOSED


async def test_streaming_failure_before_first_chunk_counts_for_breaker(fake_openai, clock):
    fake_openai.push(Fail(500))
    async with make(fake_openai, clock, max_retries=0, breaker_failures=1) as llm:
        with pytest.raises(LLMError):
            async for _ in llm.stream_chat(USER):
                pass
        assert llm.breaker.state == CircuitBreaker.OPEN


async def test_token_bucket_spacing(clock):
    bucket = TokenBucket(rate_per_min=60, burst=2, clock=clock, sleep=clock.sleep)
    waits = [await bucket.acquire() for _ in range(5)]
    assert waits == pytest.approx([0, 0, 1, 1, 1])
    clock.now += 10  # idle time refills, but only up to the burst size
    waits = [await bucket.acquire() for _ in range(3)]
    assert waits == pytest.approx([0, 0, 1])


async def test_client_is_rate_limited(fake_openai, clock):
    fake_openai.default = Reply(text="ok")
    async with make(fake_openai, clock, requests_per_minute=6, burst=1) as llm:
        for _ in range(3):
            await llm.chat(USER)
    assert clock.sleeps == pytest.approx([10.0, 10.0])  # 6/min = one call every 10 s after the first


def test_extract_json_tolerates_prose():
    assert extract_json('Sure! {"a": 1} hope that helps') == {"a": 1}
    with pytest.raises(json.JSONDecodeError):
        extract_json("no braces here")


def test_unconfigured_client_is_an_error():
    with pytest.raises(LLMError, match="not configured"):
        LLMClient(LLMConfig(base_url=""))
