"""The dialogue agent's tool-calling loop against the fake OpenAI server and the real MCP tools."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest

from agents.llm import LLMClient, LLMConfig
from server.dialogue.agent import CHAT_NEXT, AgentConfig, build_agent
from server.dialogue.memory import DialogueMemory
from server.dialogue.skill_table import build_skill_table
from server.dialogue.skills import Skills, TurnContext
from server.dialogue.spoken import MAX_ANSWER_CHARS, is_question
from server.intent.models import Intent
from server.tools.context import ToolContext
from tests.agent.conftest import Channel
from tests.conftest import make_settings
from tests.fakes.openai_server import Fail, Reply
from tests.tools.helpers import DAY

TODAY = date(2025, 11, 21)


def make_agent(tmp_path: Path, results: Path, base_url: str | None, **config: object):
    settings = make_settings(tmp_path, results_dir=results)
    ctx = ToolContext.from_settings(settings)
    llm = None
    if base_url:
        llm = LLMClient(
            LLMConfig(base_url=base_url, model="fake-model", max_retries=0, backoff_s=0, breaker_failures=2)
        )
    agent = build_agent(ctx, llm, AgentConfig(**config))  # type: ignore[arg-type]
    skills = Skills(ctx.reports, settings.timezone)
    build_skill_table(skills, agent)
    return agent, skills


def turn(owner: str = "default", state: DialogueMemory | None = None) -> TurnContext:
    memory = DialogueMemory() if state is None else state
    return TurnContext(owner=owner, device=Channel(), today=TODAY, memory=memory)  # type: ignore[arg-type]


async def spoken(reply) -> list[str]:
    out = list(reply.sentences)
    if reply.stream is not None:
        out += [s async for s in reply.stream]
    return out


def tool_messages(request: dict) -> list[dict]:
    return [m for m in request["body"]["messages"] if m["role"] == "tool"]


async def test_multi_step_tool_calls_pinned_to_the_speaker(tmp_path, day_results, llm_server, day) -> None:
    bad = day.incident("image_pull_failure")
    llm_server.push(
        # the model asks for another owner's audit log: the agent pins the speaker's owner
        Reply(tool_calls=[("analyze_log_type", json.dumps({"kind": "audit", "owner": "mallory"}))]),
        Reply(tool_calls=[("search_logs", '{"query": "镜像拉取失败"}'), ("correlate_logs", "{}")]),
        Reply(
            text=f"{bad['user']} 把 {bad['workload']} 的镜像改坏了。之后拉取失败，业务报错。需要我给出处理建议吗？"
        ),
    )
    agent, skills = make_agent(tmp_path, day_results, llm_server.base_url)
    try:
        reply = await skills.handle(Intent("chat", text="审计日志里是谁改了镜像"), turn())
        sentences = await spoken(reply)
    finally:
        await agent.close()
    assert sentences == [
        f"{bad['user']} 把 {bad['workload']} 的镜像改坏了。",
        "之后拉取失败，业务报错。",
        "需要我给出处理建议吗？",
    ]
    first, second, third = llm_server.requests
    offered = {t["function"]["name"] for t in first["body"]["tools"]}
    assert (
        "confirm_action" not in offered and {"analyze_log_type", "search_logs", "propose_action"} <= offered
    )
    assert all("owner" not in t["function"]["parameters"]["properties"] for t in first["body"]["tools"])
    audit = json.loads(tool_messages(second)[0]["content"])
    assert audit["owner"] == "default" and audit["findings"][0]["user"] == bad["user"]
    results = [json.loads(m["content"]) for m in tool_messages(third)]
    assert len(results) == 3 and results[1]["hits"][0]["workload"] == bad["workload"]
    assert any(c["workload"] == bad["workload"] for c in results[2]["chains"])
    run = agent.runs[-1]
    assert run.tool_calls == [("analyze_log_type", True), ("search_logs", True), ("correlate_logs", True)]
    assert run.steps == 3 and not run.limit_reached and run.fallback is None


async def test_step_limit_forces_an_answer(tmp_path, day_results, llm_server) -> None:
    def respond(body: dict) -> Reply:
        if body.get("tools"):
            return Reply(tool_calls=[("system_health", "{}")])  # a model that never stops calling tools
        return Reply(text="我查了好几次，系统运行正常。")

    llm_server.default = respond
    agent, skills = make_agent(tmp_path, day_results, llm_server.base_url, max_steps=2)
    try:
        sentences = await spoken(await skills.handle(Intent("chat", text="系统还好吗"), turn()))
    finally:
        await agent.close()
    assert len(llm_server.requests) == 3
    assert "tools" not in llm_server.requests[-1]["body"]
    assert sentences == ["我查了好几次，系统运行正常。", CHAT_NEXT]
    run = agent.runs[-1]
    assert run.limit_reached and run.tool_calls == [("system_health", True)] * 2


async def test_tool_errors_go_back_to_the_model(tmp_path, day_results, llm_server) -> None:
    llm_server.push(
        Reply(tool_calls=[("analyze_log_type", '{"kind": "metrics"}'), ("get_case", "{not json")]),
        Reply(tool_calls=[("confirm_action", '{"case_id": 1, "decision": "approve", "approver": "llm"}')]),
        Reply(text="没有指标日志这一类。要我看看审计日志吗？"),
    )
    agent, skills = make_agent(tmp_path, day_results, llm_server.base_url)
    try:
        sentences = await spoken(await skills.handle(Intent("chat", text="看看指标日志"), turn()))
    finally:
        await agent.close()
    errors = [json.loads(m["content"])["error"] for m in tool_messages(llm_server.requests[1])]
    assert "invalid arguments" in errors[0] and "not JSON" in errors[1]
    refused = json.loads(tool_messages(llm_server.requests[2])[-1]["content"])["error"]
    assert "only propose" in refused
    assert sentences == ["没有指标日志这一类。", "要我看看审计日志吗？"]
    assert agent.runs[-1].tool_calls == [
        ("analyze_log_type", False),
        ("get_case", False),
        ("confirm_action", False),
    ]


def _says(sentences: list[str], *names: str) -> bool:
    text = "".join(sentences)
    return all(n in text for n in names)


async def test_llm_down_gives_the_deterministic_drill_down(tmp_path, day_results, day) -> None:
    bad = day.incident("image_pull_failure")
    # nothing listens on this port: connection refused
    agent, skills = make_agent(tmp_path, day_results, "http://127.0.0.1:9/v1")
    state = DialogueMemory()
    try:
        t0 = time.monotonic()
        reply = await skills.handle(
            Intent("drill_down", {"kind": "audit", "day": DAY}, text="分析审计日志"), turn(state=state)
        )
        sentences = await spoken(reply)
        assert time.monotonic() - t0 < 5
    finally:
        await agent.close()
    assert _says(sentences, bad["user"], bad["workload"]) and is_question(sentences[-1])
    assert agent.runs[-1].fallback and "LLM" in agent.runs[-1].fallback
    assert reply.expect == "drill"


async def test_server_errors_then_open_circuit_fall_back_without_calling(
    tmp_path, day_results, llm_server, day
) -> None:
    llm_server.default = Fail(500)
    agent, skills = make_agent(tmp_path, day_results, llm_server.base_url)
    oom = day.incident("oom_kill")["workload"]
    try:
        for _ in range(2):  # two failures open the breaker (breaker_failures=2)
            s = await spoken(await skills.handle(Intent("drill_down", {"kind": "event", "day": DAY}), turn()))
            assert _says(s, oom) and is_question(s[-1])
        calls = len(llm_server.requests)
        s = await spoken(await skills.handle(Intent("drill_down", {"kind": "event", "day": DAY}), turn()))
        assert _says(s, oom) and len(llm_server.requests) == calls
        assert agent.runs[-1].fallback == "LLM circuit open"
    finally:
        await agent.close()


async def test_slow_llm_times_out_into_the_fallback(tmp_path, day_results, llm_server) -> None:
    llm_server.push(Reply(text="太慢了。", delay=3))
    agent, skills = make_agent(tmp_path, day_results, llm_server.base_url, llm_timeout_s=0.5)
    try:
        t0 = time.monotonic()
        s = await spoken(await skills.handle(Intent("drill_down", {"kind": "correlate", "day": DAY}), turn()))
        assert time.monotonic() - t0 < 2.5
    finally:
        await agent.close()
    assert s[0].startswith("关联") and is_question(s[-1]) and "太慢了。" not in s


async def test_first_sentence_is_spoken_before_the_rest_is_written(
    tmp_path, day_results, slow_llm_server
) -> None:
    slow_llm_server.push(Reply(text="第一句来了。第二句要等一会儿。第三句也是。要继续吗？"))
    agent, skills = make_agent(tmp_path, day_results, slow_llm_server.base_url)
    try:
        reply = await skills.handle(Intent("chat", text="讲讲"), turn())
        t0 = time.monotonic()
        stamps = []
        async for s in reply.stream:
            stamps.append((s, time.monotonic() - t0))
            slow_llm_server.heard_first.set()  # the model writes on only once we have the first sentence
    finally:
        await agent.close()
    assert [s for s, _ in stamps] == ["第一句来了。", "第二句要等一会儿。", "第三句也是。", "要继续吗？"]
    # streamed, not batched: the first sentence arrived while the model was still held after writing it
    # (a causal check: a wall-clock bound on the first sentence is at the mercy of a loaded machine)
    assert slow_llm_server.first_heard_while_writing is True
    assert stamps[-1][1] - stamps[0][1] >= 2 * slow_llm_server.pause  # the later sentences as they come


async def test_answer_is_bounded_and_ends_with_a_question(tmp_path, day_results, llm_server) -> None:
    llm_server.push(Reply(text="订单服务出了问题，错误很多。" * 40))
    agent, skills = make_agent(tmp_path, day_results, llm_server.base_url)
    try:
        s = await spoken(await skills.handle(Intent("chat", text="讲讲"), turn()))
    finally:
        await agent.close()
    assert sum(len(x) for x in s) <= MAX_ANSWER_CHARS and s[-1] == CHAT_NEXT and len(s) > 3


async def test_history_is_per_owner_and_bounded(tmp_path, day_results, llm_server) -> None:
    llm_server.default = Reply(text="好的。还有别的吗？")
    agent, skills = make_agent(tmp_path, day_results, llm_server.base_url, history_turns=2)
    state = DialogueMemory()
    try:
        for q in ("第一问", "第二问", "第三问"):
            await spoken(await skills.handle(Intent("chat", text=q), turn("alice", state)))
        await spoken(await skills.handle(Intent("chat", text="我是谁"), turn("bob", state)))
    finally:
        await agent.close()
    alice_third = [
        m["content"] for m in llm_server.requests[2]["body"]["messages"] if m["role"] in ("user", "assistant")
    ]
    assert alice_third == ["第一问", "好的。还有别的吗？", "第二问", "好的。还有别的吗？", "第三问"]
    bob = [m["content"] for m in llm_server.requests[3]["body"]["messages"] if m["role"] == "user"]
    assert bob == ["我是谁"]
    assert len(state.agent_history["alice"]) == 4  # two turns kept


async def test_drill_down_with_llm_seeds_the_tool_result(tmp_path, day_results, llm_server, day) -> None:
    bad = day.incident("image_pull_failure")
    llm_server.push(Reply(text=f"最严重的是 {bad['workload']}。要看关联分析吗？"))
    agent, skills = make_agent(tmp_path, day_results, llm_server.base_url)
    try:
        s = await spoken(
            await skills.handle(
                Intent("drill_down", {"kind": "audit", "day": DAY}, text="分析审计日志"), turn()
            )
        )
    finally:
        await agent.close()
    assert s == [f"最严重的是 {bad['workload']}。", "要看关联分析吗？"]
    (request,) = llm_server.requests  # one LLM call: the needed tool ran before it
    seeded = json.loads(tool_messages(request)[0]["content"])
    assert seeded["kind"] == "audit" and seeded["findings"][0]["workload"] == bad["workload"]


@pytest.mark.parametrize("kind", ["business", "event", "audit", "correlate"])
async def test_deterministic_drill_down_without_llm(tmp_path, day_results, day, kind) -> None:
    from tests.tools.helpers import findings

    _agent, skills = make_agent(tmp_path, day_results, None)
    report = findings(day_results)
    s = await spoken(await skills.handle(Intent("drill_down", {"kind": kind, "day": DAY}), turn()))
    assert sum(len(x) for x in s) <= MAX_ANSWER_CHARS and is_question(s[-1])
    if kind == "correlate":
        chains = [f for f in report["findings"] if f["category"] == "change_before_errors"]
        top = max(chains, key=lambda f: (f["severity"] == "critical", f["count"]))
        assert _says(s, top["user"], top["workload"])
    else:
        mine = [f for f in report["findings"] if f["kind"] == kind]
        rank = ["critical", "high", "medium", "low", "info"]
        top = min(mine, key=lambda f: (rank.index(f["severity"]), -f["count"]))
        assert _says(s, top["workload"] or top["user"])
        lines = report["stats"][kind]["lines"]
        assert str(lines) in s[0]


async def test_yes_after_correlate_gives_rollback_advice(tmp_path, day_results, day) -> None:
    bad = day.incident("image_pull_failure")
    _agent, skills = make_agent(tmp_path, day_results, None)
    state = DialogueMemory()
    await spoken(
        await skills.handle(Intent("drill_down", {"kind": "correlate", "day": DAY}), turn(state=state))
    )
    advice = await spoken(
        await skills.handle(Intent("drill_down", {"kind": "correlate"}, text="好的"), turn(state=state))
    )
    assert _says(advice, bad["workload"]) and "建议" in "".join(advice) and is_question(advice[-1])
    assert sum(len(x) for x in advice) <= MAX_ANSWER_CHARS


async def test_chat_without_llm_keeps_the_old_answers(tmp_path, day_results) -> None:
    agent, skills = make_agent(tmp_path, day_results, None)
    assert getattr(skills.table["chat"], "__self__", None) is not agent  # the deterministic chat
    s = await spoken(await skills.handle(Intent("chat", text="今天星期几"), turn()))
    assert s[0].startswith("今天是2025年11月21日")
