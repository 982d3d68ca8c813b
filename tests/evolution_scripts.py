"""Scripted LLM behaviour for evolution tests: a TaskAgent that uses the calculator tool and
a MetaAgent that repairs the buggy calculator through editor and bash tool calls."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from hyperfunc_core.domains.builtin import CALCULATOR_TOOL
from hyperfunc_core.testing import text, tool_call
from hyperfunc_core.testing.scripted_agents import (  # noqa: F401 - the shared script, re-exported for the tests
    BUGGY,
    FIXED,
    is_meta,
    meta_agent_repairs,
    responder,
    task_agent,
    tool_results,
)


def meta_agent_idle(body: dict):
    return text("No change needed.")


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
        return tool_call(
            "editor",
            {
                "command": "insert",
                "path": "prompts/meta_agent.txt",
                "insert_line": 0,
                "new_str": "Focus on edge cases first.",
            },
        )
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


def by_conversation(*scripts):
    """A MetaAgent responder that gives each conversation (each child's workspace) the next script, in
    the order their first requests arrive: concurrent children get different behaviours."""
    assigned: dict[str, object] = {}

    def answer(body: dict):
        first = next(m for m in body["messages"] if m.get("role") == "user")["content"]
        if first not in assigned:
            assigned[first] = scripts[len(assigned) % len(scripts)]
        return assigned[first](body)

    return answer


def meta_agent_writes_tool(source: str, summary: str):
    """Replaces calculator_tool.py with ``source``, then stops."""

    def script(body: dict):
        if not tool_results(body):
            return tool_call("editor", {"command": "create", "path": "calculator_tool.py", "file_text": source})
        return text(summary)

    return script


def meta_agent_breaks_addition(body: dict):
    """Makes addition subtract: worse on the first tasks than its parent."""
    if not tool_results(body):
        old = 'if op == "+":\n        result = a + b'
        return tool_call(
            "editor",
            {"command": "str_replace", "path": "calculator_tool.py", "old_str": old, "new_str": old[:-1] + "- b"},
        )
    return text("Changed addition.")


BROKEN_IMPORT_TOOL = "import no_such_module_anywhere\n\n\ndef calculate(expression):\n    return '0'\n"


def crash_job(server, tmp_path: Path, repo: Path, *extra: str) -> tuple[list[str], dict]:
    """The command line of ``evolution_job.py`` (which dies once mid-run, then resumes) and its
    environment: the session's Prefect test server, not a second ephemeral one on the same home."""
    import os
    import sys

    from prefect.settings import PREFECT_API_URL

    job = [
        sys.executable,
        str(Path(__file__).parent / "evolution_job.py"),
        server.api_base,
        str(tmp_path / "out"),
        str(repo),
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        str(tmp_path / "crashed"),
        *extra,
    ]
    env = {**os.environ}
    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    return job, env
