"""Prompt files with ``{{variable}}`` placeholders, and the defaults ``prompts_dir`` scaffolds.

Prompts live in files the MetaAgent can edit (its own included), so a change it makes to
``meta_agent.txt`` is what the next generation's MetaAgent reads.
"""

from __future__ import annotations

import re
from pathlib import Path

from hyperfunc_core.executors.commands import WorkspaceFiles
from hyperfunc_core.executors.safe_files import UnsafePath

META_AGENT_PROMPT = """You are an expert AI agent engineer improving an agent's code and prompts.

The agent's repository is at {{repoPath}}. The evaluation results of the current version
(predictions.json with a score per task, report.json with the average) are in {{evalPath}}.
{{scoreContext}}
{{iterationsContext}}

Use the bash and editor tools to read the failing tasks, find the cause (a prompt, a tool,
the domain code) and fix it by editing files in the repository. Make focused changes. When
you are done, answer with a short summary of what you changed and why.
"""

TASK_AGENT_PROMPT = """You are an agent solving one task. Use the tools you are given when they help.
Answer with the final answer only, nothing else.

Task input:
{{inputs}}
"""

DEFAULTS = {"meta_agent.txt": META_AGENT_PROMPT, "task_agent.txt": TASK_AGENT_PROMPT}
_VAR = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def render(template: str, **values: object) -> str:
    """Fill ``{{name}}`` placeholders; one without a value is left as it is."""
    return _VAR.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


def scaffold_prompts(prompts_dir: str | Path, workspace: WorkspaceFiles | None = None) -> dict[str, Path]:
    """Create ``meta_agent.txt`` and ``task_agent.txt`` with the defaults where they do not exist.

    With ``workspace``, ``prompts_dir`` is a folder inside it, written through its link-safe
    files (as the workspace's user, in the container for Docker): a link the agent planted there
    is an error, never a redirected write.
    """
    out = {}
    if workspace is not None:
        for name, text in DEFAULTS.items():
            rel = f"{Path(prompts_dir).as_posix().rstrip('/')}/{name}"
            kind = workspace.kind(rel)
            if kind == "missing":
                workspace.write_text(rel, text)
            elif kind != "file":
                raise UnsafePath(f"prompts_dir: {rel} in the workspace is a {kind}, not a file; refused")
            out[name] = Path(workspace.root) / rel
        return out
    folder = Path(prompts_dir).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DEFAULTS.items():
        path = folder / name
        if not path.exists():
            path.write_text(text)
        out[name] = path
    return out


def score_context(score: float | None) -> str:
    """The score-aware sentence of the MetaAgent prompt."""
    if score is None:
        return "The current agent has no score yet."
    if score >= 1.0:
        return (
            "All tasks passing (100%) on the tasks you can see. The agent is also judged on tasks you cannot "
            "see: do NOT make changes unless you identify a clear improvement that would carry over to them."
        )
    return f"The current agent scores {score * 100:.1f}%. Focus on the failing tasks."


def iterations_context(left: int | None) -> str:
    if left is None:
        return ""
    return f"You have {left} iteration{'s' if left != 1 else ''} remaining after this one."
