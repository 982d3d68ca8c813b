"""The built-in domains, each with a small task set written for this project.

bash (commands run in the workspace, output compared), scoring (accept/reject a student's
answer), factcheck (true/false), calculator (tool use, with a deliberately buggy
calculator the MetaAgent can repair), paper_review (accept/reject from title and abstract).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hyperfunc_core.agents.tools import Tool
from hyperfunc_core.domains.base import DomainConfig, DomainTask, JsonTasksDomain
from hyperfunc_core.domains.evaluators import normalize
from hyperfunc_core.executors.commands import CommandTimeout, WorkspaceFiles, run_in_workspace, runner_for
from hyperfunc_core.executors.safe_files import UnsafePath
from hyperfunc_core.validation import InvalidInput

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
        if self.workdir is not None:  # where the workspace's commands run (a container, for Docker)
            done = await asyncio.to_thread(run_in_workspace, self.workdir, command, self.timeout_s)
        else:
            with tempfile.TemporaryDirectory(prefix="hyperfunc-bash-") as scratch:
                done = await asyncio.to_thread(run_in_workspace, scratch, command, self.timeout_s)
        return 1.0 if not done.timed_out and done.stdout.strip() == str(task.expected).strip() else 0.0


class CalculatorDomain(JsonTasksDomain):
    """Arithmetic word problems solved with a ``calculate`` tool loaded from the workspace.

    The tool is the workspace's ``calculator_tool.py`` (the bundled one where the workspace
    has none), run where the workspace's commands run: in the Docker executor's container,
    code the MetaAgent wrote never runs on this machine. A call that runs past
    ``tool_timeout_s`` is killed and raises ``CommandTimeout``, which fails the evaluation:
    a tool that hangs makes the generation invalid, it is not an answer to score.
    """

    tool_file = "calculator_tool.py"
    tool_timeout_s = 10.0

    def __init__(self, config: DomainConfig | None = None, tasks_file: str | Path = DATA / "calculator.json") -> None:
        super().__init__(config or DomainConfig("calculator"), tasks_file)

    def format_input(self, task: DomainTask) -> str:
        return task.inputs["problem"] + "\nUse the calculate tool, then answer with the number only."

    def tools(self, workdir: Path | None) -> list[Tool]:
        kind = "missing" if workdir is None else WorkspaceFiles(workdir).kind(self.tool_file)
        if kind not in ("file", "missing"):  # an agent-made link or special file: an error, never followed
            raise UnsafePath(f"{self.tool_file} in the workspace is a {kind}, not a file; refused")
        in_workspace = kind == "file"
        path, cwd = (Path(workdir) / self.tool_file, Path(workdir)) if in_workspace else (CALCULATOR_TOOL, DATA)
        python = runner_for(cwd).python

        async def calculate(expression: str) -> str:
            done = await asyncio.to_thread(
                run_in_workspace,
                cwd,
                [python, "-c", _CALL_TOOL, str(path), "calculate", str(expression)],
                self.tool_timeout_s,
            )
            if done.timed_out:
                raise CommandTimeout(
                    f"calculate({expression!r}): {self.tool_file} ran past {done.limit_s:g} s and was killed"
                )
            if done.returncode != 0:
                return f"error: {self.tool_file} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
            return done.stdout.strip()

        return [
            Tool(
                "calculate",
                "Evaluate an arithmetic expression 'a op b' (op: + - * /).",
                {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
                calculate,
            )
        ]

    async def smoke_check(self, workdir: Path | None) -> None:
        """The calculator must load and answer: a tool file that no longer imports fails here."""
        (calculate,) = self.tools(workdir)
        answer = await calculate.acall({"expression": "2 + 3"})
        if answer.startswith("error:"):
            raise RuntimeError(f"calculate('2 + 3') answered {answer!r}")

    async def evaluate(self, prediction: str, task: DomainTask) -> float:
        try:
            return 1.0 if abs(float(normalize(prediction)) - float(task.expected)) < 1e-6 else 0.0
        except ValueError:
            return 0.0


# Loads a tool file fresh (an edited tool counts at once) and prints one function's answer.
_CALL_TOOL = "import runpy, sys; print(runpy.run_path(sys.argv[1])[sys.argv[2]](*sys.argv[3:]))"


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
        return JsonTasksDomain(
            options.pop("config", None) or DomainConfig(name),
            options.pop("tasks_file", DATA / f"{name}.json"),
            **options,
        )
    raise InvalidInput(f"domain: expected one of bash, scoring, factcheck, calculator, paper_review; got {name!r}")


BUILTIN_DOMAINS = ("bash", "scoring", "factcheck", "calculator", "paper_review")
