"""The LLM gateway, through the real litellm client, against the scripted local server."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hyperfunc_core.llm import BudgetExceededError, LLMError, LLMGateway
from hyperfunc_core.testing import assert_paced, error, malformed, text, tool_call


def gateway_for(server, **kw) -> LLMGateway:
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("backoff_max_s", 0.05)
    return LLMGateway("openai/gpt-4o-mini", api_base=server.api_base, api_key="test-key", **kw)


def test_text_reply_with_tokens_and_cost(llm_server):
    llm_server.push(text("four", prompt_tokens=11, completion_tokens=3))
    gw = gateway_for(llm_server)
    reply = gw.complete("what is two plus two?", temperature=0.2)
    assert reply.content == "four" and reply.attempts == 1
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (11, 3, 14)
    assert reply.cost_usd > 0  # priced from litellm's table for gpt-4o-mini
    assert gw.usage.requests == 1 and gw.usage.total_tokens == 14 and gw.usage.cost_usd == pytest.approx(reply.cost_usd)
    sent = llm_server.chat_requests()[0].body
    assert sent["messages"] == [{"role": "user", "content": "what is two plus two?"}]
    assert sent["temperature"] == 0.2 and sent["model"] == "gpt-4o-mini"


def test_retries_429_500_and_malformed_bodies(llm_server):
    llm_server.push(error(429, "slow down"), error(500, "boom"), malformed(), text("finally"))
    gw = gateway_for(llm_server)
    reply = gw.complete("hi")
    assert reply.content == "finally" and reply.attempts == 4
    assert len(llm_server.chat_requests()) == 4
    assert gw.usage.failed_attempts == 3 and gw.usage.requests == 1


def test_answers_without_choices_or_content_are_retried_then_an_llm_error(llm_server):
    no_choices = malformed(
        '{"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini", "choices": []}'
    )
    llm_server.push(no_choices, text(""), text("at last"))
    gw = gateway_for(llm_server)
    reply = gw.complete("hi")
    assert reply.content == "at last" and reply.attempts == 3 and gw.usage.failed_attempts == 2

    llm_server.push(*[text("")] * 3)
    with pytest.raises(LLMError, match="after its last retry.*neither content nor tool calls") as info:
        gateway_for(llm_server, max_retries=2).complete("hi")
    assert info.value.attempts == 3


def test_a_silent_server_times_out_each_attempt_then_an_llm_error(llm_server):
    llm_server.push(*[text("too late", delay_s=5)] * 2)
    with pytest.raises(LLMError, match="after its last retry .*2 attempts.*Timeout") as info:
        gateway_for(llm_server, timeout_s=0.5, max_retries=1).complete("hi")
    assert info.value.attempts == 2


def test_agent_options_set_the_request_timeout_and_refuse_an_empty_model():
    from hyperfunc_core import AgentOptions, TaskAgent

    agent = TaskAgent(AgentOptions(model="openai/gpt-4o-mini", timeout_s=7, max_retries=1))
    assert agent.gateway.timeout_s == 7 and agent.gateway.max_retries == 1
    assert TaskAgent(AgentOptions(model="openai/gpt-4o-mini")).gateway.timeout_s == 60
    for bad, name in [({"model": ""}, "model"), ({"timeout_s": 0}, "timeout_s"), ({"max_retries": -1}, "max_retries")]:
        with pytest.raises(ValueError, match=name):
            AgentOptions(**bad)


def test_clear_error_when_retries_run_out(llm_server):
    llm_server.push(*[error(503, "overloaded, try later")] * 3)
    gw = gateway_for(llm_server, max_retries=2)
    with pytest.raises(LLMError) as info:
        gw.complete("hi")
    message = str(info.value)
    assert "'openai/gpt-4o-mini'" in message and llm_server.api_base in message
    assert "HTTP 503" in message and "overloaded, try later" in message and "3 attempts" in message
    assert info.value.status == 503 and info.value.attempts == 3
    assert len(llm_server.chat_requests()) == 3


def test_client_errors_are_not_retried(llm_server):
    llm_server.push(error(400, "bad request: unknown field"))
    gw = gateway_for(llm_server)
    with pytest.raises(LLMError, match="not retried.*HTTP 400"):
        gw.complete("hi")
    assert len(llm_server.chat_requests()) == 1


def test_timeouts_are_retried(llm_server):
    llm_server.push(text("late", delay_s=1.5), text("on time"))
    gw = gateway_for(llm_server, timeout_s=0.5)
    assert gw.complete("hi").content == "on time"
    assert len(llm_server.chat_requests()) == 2


def test_requests_per_minute_is_honoured(llm_server):
    llm_server.default = text("ok")
    gw = gateway_for(llm_server, requests_per_minute=600, max_concurrency=8)  # one start every 0.1 s

    async def burst():
        return await asyncio.gather(*(gw.acomplete(f"q{i}") for i in range(8)))

    replies = asyncio.run(burst())
    assert [r.content for r in replies] == ["ok"] * 8
    assert_paced(gw.pacer.recent_starts, [r.time for r in llm_server.chat_requests()], n=8, interval=0.1)


def test_concurrency_bound_holds_across_threads(llm_server):
    in_flight, peak, lock = 0, 0, threading.Lock()

    def responder(body):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        threading.Event().wait(0.15)
        with lock:
            in_flight -= 1
        return text("done")

    llm_server.responder = responder
    gw = gateway_for(llm_server, max_concurrency=2)
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda i: gw.complete(f"q{i}").content, range(6)))
    assert results == ["done"] * 6 and peak == 2


def test_native_tool_calls(llm_server):
    llm_server.push(tool_call("add", {"a": 2, "b": 3}), tool_call("add", "{not json"))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "add",
                "description": "Add two numbers",
                "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
            },
        }
    ]
    gw = gateway_for(llm_server)
    reply = gw.complete("add 2 and 3", tools=tools)
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("add", {"a": 2, "b": 3})]
    assert llm_server.chat_requests()[0].body["tools"] == tools
    assert reply.as_message()["tool_calls"][0]["function"]["name"] == "add"
    broken = gw.complete("again", tools=tools)
    assert broken.tool_calls[0].arguments == {} and "not valid JSON" in broken.tool_calls[0].arguments_error


def test_budget_stops_cleanly(llm_server):
    llm_server.default = text("expensive answer", prompt_tokens=1000, completion_tokens=1000)
    gw = gateway_for(llm_server, budget_usd=1e-6)
    gw.complete("first")
    with pytest.raises(BudgetExceededError, match="budget"):
        gw.complete("second")
    assert len(llm_server.chat_requests()) == 1


def test_bad_arguments_fail_fast():
    with pytest.raises(ValueError, match="max_concurrency"):
        LLMGateway("openai/x", max_concurrency=0)
    with pytest.raises(ValueError, match="requests_per_minute"):
        LLMGateway("openai/x", requests_per_minute=-1)
    with pytest.raises(ValueError, match="messages"):
        LLMGateway("openai/x").complete([{"content": "no role"}])


def test_prompt_fn_wraps_the_gateway(llm_server):
    llm_server.push(text('{"x": 1}'))
    ask = gateway_for(llm_server).prompt_fn(system="Return RAW JSON only.")
    assert ask("suggest") == '{"x": 1}'
    assert llm_server.chat_requests()[0].messages[0] == {"role": "system", "content": "Return RAW JSON only."}
