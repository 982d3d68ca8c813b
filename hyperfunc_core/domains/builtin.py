"""The built-in domains, each with a small task set written for this project.

bash (commands run in the workspace, output compared), scoring (accept/reject a student's
answer), factcheck (true/false), calculator (tool use, with a deliberately buggy
calculator the MetaAgent can repair), paper_review (accept/reject from title and abstract).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hyperfunc_core.agents.tools import Tool
from hyperfunc_core.domains.base import DomainConfig, DomainTask, JsonTasksDomain
from hyperfunc_core.domains.evaluators import normalize

DATA = Path(__file__).parent / "data"
CALCULATOR_TOOL = DATA / "calculator_tool.py"


class BashDomain(JsonTasksDomain):
    """A prediction is a bash command: it runs in the workspace and its output must match."""

    timeout_s = 10.0

    def __init__(self, config: DomainConfig | None = None, tasks_file: str | Path = DATA / "bash.json") -> None:
        super().__init__(config or DomainConfig("bash"), tasks_file)
        self.workdir: Path | None = None

    def bind_workspace(self, workdir: Path | None) -> None:
        self.workdir = workdir

    def format_input(self, task: DomainTask) -> str:
        return task.inputs["description"] + "\nAnswer with the command only."

    async def evaluate(self, prediction: str, task: DomainTask) -> float:
        command = _strip_fences(prediction)
        if not command:
            return 0.0
        scratch = None
        cwd = self.workdir
        if cwd is None:
            scratch = tempfile.mkdtemp(prefix="hyperfunc-bash-")
            cwd = Path(scratch)
        try:
            done = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            return 0.0
        finally:
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
        return 1.0 if done.stdout.strip() == str(task.expected).strip() else 0.0


class CalculatorDomain(JsonTasksDomain):
    """Arithmetic word problems solved with a ``calculate`` tool loaded from the workspace."""

    tool_file = "calculator_tool.py"

    def __init__(self, config: DomainConfig | None = None, tasks_file: str | Path = DATA / "calculator.json") -> None:
        super().__init__(config or DomainConfig("calculator"), tasks_file)

    def format_input(self, task: DomainTask) -> str:
        return task.inputs["problem"] + "\nUse the calculate tool, then answer with the number only."

    def tools(self, workdir: Path | None) -> list[Tool]:
        path = workdir / self.tool_file if workdir is not None and (workdir / self.tool_file).exists() else CALCULATOR_TOOL
        spec = importlib.util.spec_from_file_location(f"calculator_tool_{abs(hash(str(path)))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # fresh each time: an edited tool counts at once
        return [Tool("calculate", "Evaluate an arithmetic expression 'a op b' (op: + - * /).",
                     {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
                     module.calculate)]

    async def evaluate(self, prediction: str, task: DomainTask) -> float:
        try:
            return 1.0 if abs(float(normalize(prediction)) - float(task.expected)) < 1e-6 else 0.0
        except ValueError:
            return 0.0


def _strip_fences(text: str) -> str:
    lines = [ln for ln in str(text).strip().splitlines() if not ln.strip().startswith("```")]
    return "\n".join(lines).strip()


def get_domain(name: str, **options: Any) -> JsonTasksDomain:
    """A built-in domain by name: bash, scoring, factcheck, calculator or paper_review."""
    if name == "bash":
        return BashDomain(**options)
    if name == "calculator":
        return CalculatorDomain(**options)
    if name in ("scoring", "factcheck", "paper_review"):
        return JsonTasksDomain(options.pop("config", None) or DomainConfig(name), options.pop("tasks_file", DATA / f"{name}.json"),
                               **options)
    raise ValueError(f"domain: expected one of bash, scoring, factcheck, calculator, paper_review; got {name!r}")


BUILTIN_DOMAINS = ("bash", "scoring", "factcheck", "calculator", "paper_review")
