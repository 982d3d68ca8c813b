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


_OP = r"(times|plus|minus|divided by)"
# The calculator's problem shapes, each as the expressions that solve it; "{0}" is the first result.
_SHAPES = [
    (
        rf"What is (\d+) {_OP} (\d+) {_OP} (\d+)\?",
        lambda m: [f"{m[1]} {WORDS[m[2]]} {m[3]}", f"{{0}} {WORDS[m[4]]} {m[5]}"],
    ),
    (rf"What is (\d+) {_OP} (\d+)", lambda m: [f"{m[1]} {WORDS[m[2]]} {m[3]}"]),
    (r"the product of (\d+) and (\d+)", lambda m: [f"{m[1]} * {m[2]}"]),
    (r"holds (\d+) \w+\. How many \w+ are in (\d+)", lambda m: [f"{m[1]} * {m[2]}"]),
    (r"Share (\d+) \w+ equally among (\d+)", lambda m: [f"{m[1]} / {m[2]}"]),
]


def calculator_steps(problem: str) -> list[str]:
    """The ``calculate`` calls that solve a calculator problem, in order (empty: a shape it does not know)."""
    for pattern, steps in _SHAPES:
        match = re.search(pattern, problem)
        if match:
            return steps(match)
    return []


def task_agent(body: dict):
    """Call ``calculate`` for each step of the problem (a later step uses the first one's answer), then
    answer with what the last call returned."""
    results = tool_results(body)
    steps = calculator_steps(str(body["messages"][0]["content"]))
    if not steps:
        return text("unknown")
    if len(results) >= len(steps):
        return text(results[-1].strip())
    return tool_call("calculate", {"expression": steps[len(results)].format(*(r.strip() for r in results))})


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
