"""TaskAgent and MetaAgent on the LLM gateway: a prompt, tools, and a native tool-calling loop.

``TaskAgent.forward(inputs)`` turns a task into a prediction. ``MetaAgent.forward(repo_path,
eval_path, parent_score, iterations_left)`` edits the repository with bash and editor and
returns what it said and spent. Relative ``prompt_file`` paths resolve against the agent's
``workdir`` (the generation's workspace in the evolution loop), so edited prompts count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperfunc_core.agents.prompts import (
    META_AGENT_PROMPT,
    TASK_AGENT_PROMPT,
    iterations_context,
    render,
    score_context,
)
from hyperfunc_core.agents.tools import FrameworkTools, Tool, get_framework_tools, truncate
from hyperfunc_core.concurrency import run_coroutine
from hyperfunc_core.executors.commands import CommandTimeout, WorkspaceFiles
from hyperfunc_core.executors.safe_files import UnsafePath
from hyperfunc_core.llm import LLMGateway, UsageTotals, tally
from hyperfunc_core.validation import InvalidInput


@dataclass
class AgentOptions:
    """How an agent calls its model: litellm model string, tools, prompt file and loop limits."""

    model: str | None = None
    tools: list[Tool] | FrameworkTools | None = None
    prompt_file: str | None = None
    max_steps: int = 20  # model turns per forward (each may call tools)
    temperature: float | None = None
    api_base: str | None = None
    api_key: str | None = None
    gateway: LLMGateway | None = None  # share one gateway (bound, pace, totals) between agents
    timeout_s: float = 60.0  # per request; a silent model is retried, then the call fails (LLMError)
    max_retries: int = 4
    tool_protocol: str = "auto"  # native function calling, "text" (tools in the prompt), or auto: native until refused

    def __post_init__(self) -> None:
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < 1:
            raise InvalidInput(f"max_steps: expected an integer >= 1, got {self.max_steps!r}")
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)) or not self.timeout_s > 0:
            raise InvalidInput(f"timeout_s: expected seconds > 0, got {self.timeout_s!r}")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise InvalidInput(f"max_retries: expected an integer >= 0, got {self.max_retries!r}")
        if self.model is not None and (not isinstance(self.model, str) or not self.model.strip()):
            raise InvalidInput(
                f"model: expected a litellm model string such as 'openai/gpt-4o-mini' or None "
                f"(the configured default), got {self.model!r}"
            )
        if self.tools is not None and not isinstance(self.tools, (list, FrameworkTools)):
            raise InvalidInput(f"tools: expected a list of Tool or get_framework_tools(), got {self.tools!r}")


@dataclass
class AgentRun:
    """What one forward did: its final answer, the turns it took, the tool calls and the usage, and the
    whole conversation (``transcript``: the prompt, each reply with its tokens and cost, each tool result)."""

    output: str
    steps: int
    tool_calls: list[dict] = field(default_factory=list)
    usage: dict = field(default_factory=dict)
    transcript: list[dict] = field(default_factory=list)


class _Agent:
    default_prompt = ""

    def __init__(self, options: AgentOptions | None = None) -> None:
        self.options = options or AgentOptions()
        self.gateway = self.options.gateway or LLMGateway(
            self.options.model,
            api_base=self.options.api_base,
            api_key=self.options.api_key,
            timeout_s=self.options.timeout_s,
            max_retries=self.options.max_retries,
            tool_protocol=self.options.tool_protocol,
        )
        self.workdir: Path | None = None

    @property
    def usage(self) -> UsageTotals:
        return self.gateway.usage

    def prompt_template(self) -> str:
        """The prompt file's text (resolved against ``workdir`` when relative), or the default."""
        if not self.options.prompt_file:
            return self.default_prompt
        path = Path(self.options.prompt_file)
        if not path.is_absolute() and self.workdir is not None:
            try:  # link-safe: an agent-made link is an error, not a redirect
                text = WorkspaceFiles(self.workdir).read_if_file(path.as_posix())
            except UnsafePath as exc:
                raise UnsafePath(f"prompt_file: {path} in the workspace: {exc}; refused") from None
            if text is not None:
                return text
        if not path.exists():
            raise FileNotFoundError(f"prompt_file: {path} does not exist")
        return path.read_text()

    async def _loop(self, prompt: str, tools: list[Tool]) -> AgentRun:
        messages: list[dict] = [{"role": "user", "content": prompt}]
        by_name = {t.name: t for t in tools}
        schemas = [t.schema() for t in tools] or None
        params = {} if self.options.temperature is None else {"temperature": self.options.temperature}
        with tally() as spent:
            return await self._turns(messages, by_name, schemas, params, spent)

    async def _turns(
        self, messages: list[dict], by_name: dict[str, Tool], schemas: list | None, params: dict, spent: UsageTotals
    ) -> AgentRun:
        calls: list[dict] = []
        transcript: list[dict] = [dict(messages[0])]
        for step in range(1, self.options.max_steps + 1):
            with tally() as turn:
                response = await self.gateway.acomplete(messages, tools=schemas, **params)
            transcript.append({**response.as_message(), "usage": turn.as_dict()})
            if not response.tool_calls:
                output = (response.content or "").strip()
                return AgentRun(output, step, calls, spent.as_dict(), transcript)
            messages.append(response.as_message())
            for call in response.tool_calls:
                tool = by_name.get(call.name)
                if tool is None:
                    result = f"error: no tool named {call.name!r}; available: {sorted(by_name)}"
                elif call.arguments_error:
                    result = f"error: {call.arguments_error}"
                else:
                    try:
                        result = await tool.acall(call.arguments)
                    except CommandTimeout:
                        raise  # a hung tool is the code's failure, not something the model can retry
                    except Exception as exc:  # noqa: BLE001 - the model reads the error and may retry
                        result = f"error: {type(exc).__name__}: {exc}"
                calls.append({"tool": call.name, "arguments": call.arguments, "result": truncate(result, 2000)})
                messages.append({"role": "tool", "tool_call_id": call.id, "content": truncate(result)})
                transcript.append({**messages[-1], "name": call.name})
        return AgentRun("", self.options.max_steps, calls, spent.as_dict(), transcript)


class TaskAgent(_Agent):
    """Prompt + optional tools -> prediction."""

    default_prompt = TASK_AGENT_PROMPT

    async def aforward(self, inputs: Any) -> str:
        return (await self.arun(inputs)).output

    async def arun(self, inputs: Any) -> AgentRun:
        text = inputs if isinstance(inputs, str) else json.dumps(inputs, indent=2, sort_keys=True)
        tools = self.options.tools
        bound = tools.bind(self.workdir or Path.cwd()) if isinstance(tools, FrameworkTools) else list(tools or [])
        return await self._loop(render(self.prompt_template(), inputs=text), bound)

    def forward(self, inputs: Any) -> str:
        return run_coroutine(self.aforward(inputs))


class MetaAgent(_Agent):
    """Reads a generation's eval results and edits its repository with bash and editor."""

    default_prompt = META_AGENT_PROMPT
    framework: FrameworkTools | None = None  # bash + editor, when AgentOptions.tools does not give them

    async def arun(
        self,
        repo_path: str | Path,
        eval_path: str | Path,
        parent_score: float | None = None,
        iterations_left: int | None = None,
        history: str | None = None,
    ) -> AgentRun:
        """``history``: what the loop knows beyond ``eval_path`` (every domain's results, the lineage's
        scores), added after the score sentence so a user's own prompt file gets it too."""
        self.workdir = Path(repo_path)
        framework = (
            self.options.tools
            if isinstance(self.options.tools, FrameworkTools)
            else self.framework or get_framework_tools()
        )
        extra = list(self.options.tools) if isinstance(self.options.tools, list) else []  # besides bash and editor
        bound = framework.bind(repo_path) + extra
        prompt = render(
            self.prompt_template(),
            repoPath=str(repo_path),
            evalPath=str(eval_path),
            scoreContext=score_context(parent_score) + (f"\n{history}" if history else ""),
            iterationsContext=iterations_context(iterations_left),
        )
        try:
            return await self._loop(prompt, bound)
        finally:
            framework.close()

    def forward(
        self,
        repo_path: str | Path,
        eval_path: str | Path,
        parent_score: float | None = None,
        iterations_left: int | None = None,
    ) -> AgentRun:
        return run_coroutine(self.arun(repo_path, eval_path, parent_score, iterations_left))
