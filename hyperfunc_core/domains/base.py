"""The Domain interface: what tasks an agent is evaluated on and how a prediction is scored."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hyperfunc_core.agents.tools import Tool
from hyperfunc_core.validation import InvalidInput


@dataclass
class DomainConfig:
    """A domain's name, its evaluator (static | llm_judge | human_feedback) and defaults."""

    name: str
    evaluator: str = "static"
    subset: str = "train"
    num_samples: int | None = None
    concurrency: int = 8  # tasks evaluated at once

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise InvalidInput(f"name: expected a non-empty domain name, got {self.name!r}")
        if self.evaluator not in ("static", "llm_judge", "human_feedback"):
            raise InvalidInput(f"evaluator: expected 'static', 'llm_judge' or 'human_feedback', got {self.evaluator!r}")


@dataclass
class DomainTask:
    id: str
    inputs: dict[str, Any]
    expected: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalResult:
    task_id: str
    prediction: str
    score: float
    expected: Any = None
    error: str | None = None


@dataclass
class ReportSummary:
    domain: str
    subset: str
    average_score: float
    n: int
    correct: int
    errors: int

    def as_json(self) -> dict:
        return {"averageScore": self.average_score, **{k: v for k, v in asdict(self).items() if k != "average_score"}}


class Domain(ABC):
    config: DomainConfig

    @abstractmethod
    async def load_tasks(self, subset: str, num_samples: int | None = None) -> list[DomainTask]: ...

    @abstractmethod
    async def evaluate(self, prediction: str, task: DomainTask) -> float: ...

    @abstractmethod
    def format_input(self, task: DomainTask) -> str: ...

    @abstractmethod
    async def report(self, results: list[EvalResult]) -> ReportSummary: ...

    # -- optional hooks the evolution loop calls ---------------------------------------
    def tools(self, workdir: Path | None) -> list[Tool]:
        """The TaskAgent's tools, loaded from the generation's workspace where they live there."""
        return []

    def bind_workspace(self, workdir: Path | None) -> None:
        """Where predictions that run code (bash) run; None: a scratch folder."""

    def split_sizes(self) -> dict[str, int]:
        """How many tasks each split has (train, validation, test); empty when the domain cannot say,
        and then evolution scores, selects and reports on ``config.subset`` alone."""
        return {}

    async def smoke_check(self, workdir: Path | None) -> None:
        """Raise when the workspace's agent cannot run at all, before any task is spent on it: by default
        its tools must load. A domain whose tools run code checks that the code runs."""
        self.tools(workdir)


class JsonTasksDomain(Domain):
    """A domain whose tasks come from a JSON list of ``{id, inputs, expected, split}``."""

    def __init__(self, config: DomainConfig, tasks_file: str | Path, judge: Any = None) -> None:
        self.config, self.tasks_file, self.judge = config, Path(tasks_file), judge

    def _raw(self) -> list[dict]:
        return json.loads(self.tasks_file.read_text())

    def split_sizes(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for task in self._raw():
            split = task.get("split", self.config.subset)
            sizes[split] = sizes.get(split, 0) + 1
        return sizes

    async def load_tasks(self, subset: str, num_samples: int | None = None) -> list[DomainTask]:
        tasks = [
            DomainTask(str(t["id"]), t["inputs"], t.get("expected"), t.get("metadata", {}))
            for t in self._raw()
            if t.get("split", subset) == subset
        ]
        if not tasks:
            raise InvalidInput(f"subset: no {self.config.name} tasks in split {subset!r} ({self.tasks_file})")
        return tasks[:num_samples] if num_samples else tasks

    def format_input(self, task: DomainTask) -> str:
        return json.dumps(task.inputs, indent=2, sort_keys=True)

    async def evaluate(self, prediction: str, task: DomainTask) -> float:
        from hyperfunc_core.domains.evaluators import human_feedback_evaluator, llm_judge_evaluator, static_evaluator

        if self.config.evaluator == "static":
            return static_evaluator(prediction, task.expected)
        if self.config.evaluator == "llm_judge":
            return await llm_judge_evaluator(
                prediction,
                {"description": self.format_input(task), "rubric": task.metadata.get("rubric", str(task.expected))},
                gateway=self.judge,
            )
        return human_feedback_evaluator(task.metadata.get("rating", 0.0))

    async def report(self, results: list[EvalResult]) -> ReportSummary:
        n = len(results)
        return ReportSummary(
            self.config.name,
            self.config.subset,
            sum(r.score for r in results) / n if n else 0.0,
            n,
            sum(r.score >= 1.0 for r in results),
            sum(r.error is not None for r in results),
        )
