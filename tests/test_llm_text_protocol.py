"""Tools for models without native function calling: written as text both ways, through the real
litellm client against the scripted server playing such a model and such a server."""

from __future__ import annotations

import asyncio

import pytest

from hyperfunc_core import AgentOptions, TaskAgent
from hyperfunc_core.domains import CalculatorDomain
from hyperfunc_core.llm import LLMGateway
from hyperfunc_core.llm.text_protocol import as_text_messages, extract_json, read_tool_calls
from hyperfunc_core.testing import error, text

CALL = '<tool_call>{"name": "calculate", "arguments": {"expression": "6 * 7"}}</tool_call>'


@pytest.mark.parametrize(
    ("reply", "before", "calls"),
    [
        (f"I will compute it.\n{CALL}", "I will compute it.", [("calculate", {"expression": "6 * 7"})]),
        (CALL[: -len("</tool_call>")], None, [("calculate", {"expression": "6 * 7"})]),  # stopped before the tag
        (
            '<tool_call>{"name": "calculate", "arguments": "{\\"expression\\": \\"1 + 1\\"}"}</tool_call>',
            None,
            [("calculate", {"expression": "1 + 1"})],
        ),  # arguments as a JSON string
        (
            '```json\n{"name": "calculate", "arguments": {"expression": "2 - 1"}}\n```',
            None,
            [("calculate", {"expression": "2 - 1"})],
        ),
        ('{"name": "other", "arguments": {}}', '{"name": "other", "arguments": {}}', []),  # not a known tool: an answer
        ("42", "42", []),
    ],
)
def test_calls_are_read_from_text_in_the_forms_small_models_write(reply, before, calls):
    found_before, found = read_tool_calls(reply, {"calculate"})
    assert found_before == before and [(c["name"], c["arguments"]) for c in found] == calls


def test_json_is_found_in_chatter():
    assert extract_json('Sure! Here it is:\n```json\n{"lr": 0.01}\n``` Hope that helps.') == {"lr": 0.01}
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("I cannot help with that.")


def test_a_conversation_with_calls_and_results_reads_as_alternating_text():
    tools = [{"type": "function", "function": {"name": "calculate", "description": "d", "parameters": {}}}]
    messages = [
        {"role": "user", "content": "What is 6 times 7?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "a", "function": {"name": "calculate", "arguments": '{"expression": "6 * 7"}'}}],
        },
        {"role": "tool", "tool_call_id": "a", "content": "42"},
    ]
    out = as_text_messages(messages, tools)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert "- calculate: d" in out[0]["content"] and out[2]["content"] == (
        '<tool_call>{"name": "calculate", "arguments": {"expression": "6 * 7"}}</tool_call>'
    )
    assert out[3]["content"] == '<tool_result name="calculate">\n42\n</tool_result>'


def _calculator_agent(server, **options) -> TaskAgent:
    return TaskAgent(
        AgentOptions(
            model="openai/small-local",
            api_base=server.api_base,
            api_key="k",
            tools=CalculatorDomain().tools(None),
            **options,
        )
    )


def test_a_server_that_refuses_tools_turns_the_gateway_to_text_and_the_tool_still_runs(llm_server):
    def model_without_tools(body):
        if "tools" in body:
            return error(400, "this model does not support tools")
        last = body["messages"][-1]["content"]
        if not last.startswith("<tool_result"):
            return text(f"Let me use the calculator.\n{CALL}")
        return text(last.split("\n")[1])  # what the tool said

    llm_server.responder = model_without_tools
    agent = _calculator_agent(llm_server)
    run = asyncio.run(agent.arun("What is 6 times 7?"))
    assert run.output == "13"  # the bundled calculator's bug: the real tool ran
    assert run.tool_calls[0]["tool"] == "calculate" and run.tool_calls[0]["arguments"] == {"expression": "6 * 7"}
    assert agent.gateway.tool_protocol == "text"
    first, second, third = (r.body for r in llm_server.chat_requests())
    assert "tools" in first and "tools" not in second and "tools" not in third
    assert "calculate: Evaluate an arithmetic expression" in second["messages"][0]["content"]
    assert third["messages"][-1]["content"] == '<tool_result name="calculate">\n13\n</tool_result>'
    assert agent.gateway.usage.failed_attempts == 1 and agent.gateway.usage.requests == 2


def test_a_call_written_as_text_is_read_when_the_server_passes_it_through(llm_server):
    """A server that takes ``tools=`` but does not parse the model's own call format (llama-server
    without a matching chat template) hands the call back as text: it is still a call."""
    replies = iter([text(CALL), text("done")])
    llm_server.responder = lambda body: next(replies)
    agent = _calculator_agent(llm_server)
    run = asyncio.run(agent.arun("What is 6 times 7?"))
    assert run.output == "done" and run.tool_calls[0]["result"] == "13"
    assert agent.gateway.tool_protocol == "auto"  # still native: the server took the tools
    assert all("tools" in r.body for r in llm_server.chat_requests())


def test_the_text_protocol_can_be_chosen_and_a_bad_choice_fails_fast(llm_server):
    llm_server.responder = lambda body: text("no tools needed: 42")
    agent = _calculator_agent(llm_server, tool_protocol="text")
    assert asyncio.run(agent.aforward("What is 6 times 7?")) == "no tools needed: 42"
    assert "tools" not in llm_server.chat_requests()[0].body
    with pytest.raises(ValueError, match="tool_protocol: expected one of auto, native, text, got 'xml'"):
        LLMGateway("openai/x", tool_protocol="xml")


def test_a_stream_only_server_without_tools_is_learned_from_its_answers(llm_server):
    """The shape of ``transformers serve`` with a small model: it refuses ``tools=`` and answers every
    request with server-sent events. The gateway learns both, once, and the agent's tool still runs."""

    def served(body):
        if "tools" in body:
            return error(400, "tools are not supported by this model")
        last = body["messages"][-1]["content"]
        return text(last.split("\n")[1] if last.startswith("<tool_result") else CALL)

    llm_server.stream_only = True
    llm_server.responder = served
    agent = _calculator_agent(llm_server)
    run = asyncio.run(agent.arun("What is 6 times 7?"))
    assert run.output == "13" and agent.gateway.stream and agent.gateway.tool_protocol == "text"
    bodies = [r.body for r in llm_server.chat_requests()]
    assert ["tools" in b for b in bodies] == [True, False, False, False]
    assert [bool(b.get("stream")) for b in bodies] == [False, False, True, True]
    usage = agent.gateway.usage
    assert (usage.requests, usage.failed_attempts) == (2, 2) and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert run.transcript[1]["tool_calls"][0]["function"]["name"] == "calculate"

    # A gateway made later for the same server starts out knowing it: no request is refused again.
    again = _calculator_agent(llm_server)
    assert asyncio.run(again.arun("What is 6 times 7?")).output == "13"
    later = [r.body for r in llm_server.chat_requests()][len(bodies) :]
    assert len(later) == 2 and all("tools" not in b and b.get("stream") for b in later)
    assert again.gateway.usage.failed_attempts == 0


def test_what_a_server_needs_can_be_declared_for_every_gateway_that_reaches_it(llm_server, monkeypatch):
    from hyperfunc_core.llm.gateway import declare_server
    from hyperfunc_core.settings import reload_settings

    llm_server.responder = lambda body: text("ok")
    declare_server(llm_server.api_base, omit_params=("frequency_penalty",), default_params={"max_tokens": 7})
    monkeypatch.setenv("HYPERFUNC_LLM_OMIT_PARAMS", "presence_penalty, seed")
    monkeypatch.setenv("HYPERFUNC_LLM_TOOL_PROTOCOL", "text")  # a server in another process, as model serve says
    try:
        reload_settings()
        gw = LLMGateway("openai/local", api_base=llm_server.api_base, api_key="k")  # reads the settings once
        chosen = LLMGateway("openai/local", api_base=llm_server.api_base, api_key="k", tool_protocol="native")
        monkeypatch.setenv("HYPERFUNC_LLM_TOOL_PROTOCOL", "xml")
        reload_settings()
        with pytest.raises(ValueError, match="HYPERFUNC_LLM_TOOL_PROTOCOL: expected one of auto, native, text"):
            LLMGateway("openai/local", api_base=llm_server.api_base, api_key="k")
    finally:
        monkeypatch.delenv("HYPERFUNC_LLM_OMIT_PARAMS")
        monkeypatch.delenv("HYPERFUNC_LLM_TOOL_PROTOCOL")
        reload_settings()
    assert gw.tool_protocol == "text" and chosen.tool_protocol == "native"  # a caller's own choice wins
    gw.complete("hi", frequency_penalty=0.0, presence_penalty=0.0, seed=1, temperature=0.5)
    gw.complete("hi", max_tokens=99)  # a caller's own length wins over the declared one
    first, second = (r.body for r in llm_server.chat_requests())
    assert first["max_tokens"] == 7 and first["temperature"] == 0.5
    assert not {"frequency_penalty", "presence_penalty", "seed"} & set(first) and second["max_tokens"] == 99
    with pytest.raises(ValueError, match="ways: unknown max_tokens; expected some of stream, tool_protocol"):
        declare_server(llm_server.api_base, max_tokens=5)


def test_calls_in_flight_when_another_learned_the_refusal_are_asked_again_too(llm_server):
    import time

    from hyperfunc_core.llm import LLMGateway

    def slow_refusal(body):
        if "tools" in body:
            time.sleep(0.2)  # both requests are out before either refusal comes back
            return error(400, "tools are not supported")
        return text("ok")

    llm_server.responder = slow_refusal
    gw = LLMGateway("openai/small-local", api_base=llm_server.api_base, api_key="k", max_retries=0)
    tools = [{"type": "function", "function": {"name": "calculate", "parameters": {}}}]

    async def both():
        return await asyncio.gather(gw.acomplete("a", tools=tools), gw.acomplete("b", tools=tools))

    answers = asyncio.run(both())
    assert [a.content for a in answers] == ["ok", "ok"] and gw.tool_protocol == "text"
    assert gw.usage.failed_attempts == 2 and gw.usage.requests == 2
