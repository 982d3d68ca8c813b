"""A scripted offline model for the calculator domain: the demo's LLM when none is configured.

It plays both agents through the real client path (litellm to a local OpenAI-compatible
server): the TaskAgent calls the ``calculate`` tool with the problem's expression and answers
with what it returned; the MetaAgent views ``calculator_tool.py``, repairs its multiplication
with the editor, checks it with bash and summarises. Tests script their own variations on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hyperfunc_core.testing.llm_server import ScriptedLLMServer, text, tool_call

WORDS = {"times": "*", "plus": "+", "minus": "-", "divided by": "/"}
BUGGY = 'elif op in ("*", "x"):\n        result = a + b'
FIXED = 'elif op in ("*", "x"):\n        result = a * b'
OFFLINE_MODEL = "openai/scripted-offline"


def is_meta(body: dict) -> bool:
    first = next((m for m in body.get("messages", []) if m.get("role") == "user"), {})
    return "expert AI agent engineer" in str(first.get("content", ""))


def tool_results(body: dict) -> list[str]:
    return [str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "tool"]


def task_agent(body: dict):
    """Call ``calculate`` with the problem's expression, then answer with what it returned."""
    results = tool_results(body)
    if results:
        return text(results[-1].strip())
    prompt = str(body["messages"][0]["content"])
    match = re.search(r"What is (\d+) (times|plus|minus|divided by) (\d+)", prompt)
    if not match:
        return text("unknown")
    return tool_call("calculate", {"expression": f"{match.group(1)} {WORDS[match.group(2)]} {match.group(3)}"})


def meta_agent_repairs(body: dict):
    """view the tool -> fix multiplication with str_replace -> check with bash -> summary."""
    step = len(tool_results(body))
    if step == 0:
        return tool_call("editor", {"command": "view", "path": "calculator_tool.py"})
    if step == 1:
        return tool_call(
            "editor", {"command": "str_replace", "path": "calculator_tool.py", "old_str": BUGGY, "new_str": FIXED}
        )
    if step == 2:
        return tool_call(
            "bash", {"command": "python3 -c 'from calculator_tool import calculate; print(calculate(\"6 * 7\"))'"}
        )
    return text("Fixed multiplication in calculator_tool.py: it added instead of multiplying.")


def responder(meta: Callable[[dict], object] = meta_agent_repairs) -> Callable[[dict], object]:
    """Route each request to the MetaAgent's script or the TaskAgent's."""

    def answer(body: dict):
        return meta(body) if is_meta(body) else task_agent(body)

    return answer


@contextmanager
def offline_model() -> Iterator[dict]:
    """A running scripted server; yields the agent options (model, api_base, api_key) that reach it."""
    with ScriptedLLMServer() as server:
        server.responder = responder()
        yield {"model": OFFLINE_MODEL, "api_base": server.api_base, "api_key": "offline"}
