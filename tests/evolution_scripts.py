"""Scripted LLM behaviour for evolution tests: a TaskAgent that uses the calculator tool and
a MetaAgent that repairs the buggy calculator through editor and bash tool calls."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from hyperfunc_core.domains.builtin import CALCULATOR_TOOL
from hyperfunc_core.testing import text, tool_call

WORDS = {"times": "*", "plus": "+", "minus": "-", "divided by": "/"}
BUGGY = 'elif op in ("*", "x"):\n        result = a + b'
FIXED = 'elif op in ("*", "x"):\n        result = a * b'


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
        return tool_call("editor", {"command": "str_replace", "path": "calculator_tool.py", "old_str": BUGGY,
                                    "new_str": FIXED})
    if step == 2:
        return tool_call("bash", {"command": "python3 -c 'from calculator_tool import calculate; print(calculate(\"6 * 7\"))'"})
    return text("Fixed multiplication in calculator_tool.py: it added instead of multiplying.")


def meta_agent_idle(body: dict):
    return text("No change needed.")


def responder(meta):
    def answer(body: dict):
        return meta(body) if is_meta(body) else task_agent(body)
    return answer


def make_repo(root: Path) -> Path:
    """A git repository holding the buggy calculator tool, committed."""
    repo = root / "calculator_repo"
    repo.mkdir(parents=True)
    shutil.copy(CALCULATOR_TOOL, repo / "calculator_tool.py")
    (repo / "README.md").write_text("The calculator agent's repository.\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


def meta_requests(server) -> int:
    return sum(is_meta(r.body) for r in server.chat_requests())


def dumps(x) -> str:
    return json.dumps(x)


def meta_agent_edits_its_prompt(body: dict):
    """Adds a line to its own prompt file (prompts/meta_agent.txt), then stops."""
    if not tool_results(body):
        return tool_call("editor", {"command": "insert", "path": "prompts/meta_agent.txt", "insert_line": 0,
                                    "new_str": "Focus on edge cases first."})
    return text("Sharpened my own instructions.")


def meta_agent_takes_notes(body: dict):
    """Creates a notes file (a real but harmless change), then stops."""
    if not tool_results(body):
        return tool_call("editor", {"command": "create", "path": "NOTES.md", "file_text": "multiplication looks off\n"})
    return text("Took notes.")


HANGING_TOOL = "def calculate(expression):\n    while True:\n        pass\n"


def meta_agent_breaks_the_tool(body: dict):
    """Runs a command that never ends (killed at the limit), then leaves a tool that hangs."""
    step = len(tool_results(body))
    if step == 0:
        return tool_call("bash", {"command": "sleep 600; echo never"})
    if step == 1:
        return tool_call("editor", {"command": "create", "path": "calculator_tool.py", "file_text": HANGING_TOOL})
    return text("Rewrote the calculator.")
