"""How a generation's agent is scored, each domain in the generation's workspace.

Splits keep the scores honest: ``train`` (the domain's ``config.subset``) is what the MetaAgent reads,
failures included; ``validation`` chooses parents and the run's best and is never shown to it; ``test``
scores the run's best once, at the end. A domain without held-out splits is scored on train alone.

Staging spends little on a child that cannot be a parent: a smoke check (the domain's own check, then
one task must run without an error), then optionally a sample of the train tasks compared with the
parent's results on the same tasks; only a child that passes is evaluated on every split.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hyperfunc_core.agents.agent import TaskAgent
from hyperfunc_core.agents.tools import Tool
from hyperfunc_core.concurrency import run_coroutine
from hyperfunc_core.domains.base import Domain, ReportSummary
from hyperfunc_core.domains.harness import run_harness
from hyperfunc_core.evolution.archive import eval_folder
from hyperfunc_core.llm import BudgetExceededError, tally
from hyperfunc_core.validation import InvalidInput

TRAIN, VALIDATION, TEST = "train", "validation", "test"


class SmokeCheckFailed(RuntimeError):
    """The child's agent does not run (a tool that no longer imports, a first task that errors)."""


def has_split(domain: Domain, split: str) -> bool:
    return split == TRAIN or domain.split_sizes().get(split, 0) > 0


def subset_of(domain: Domain, split: str) -> str:
    """The domain's task subset a split reads: train is the domain's configured subset (what the
    MetaAgent sees), any other split its own name."""
    return domain.config.subset if split == TRAIN else split


def selection_scores(by_split: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each domain's validation figure, or its train figure where it has no validation split."""
    held_out = by_split.get(VALIDATION, {})
    return {name: held_out.get(name, value) for name, value in by_split.get(TRAIN, {}).items()}


@dataclass
class WorkspaceScorer:
    """The TaskAgent of one workspace, run on its domains' tasks; results under ``out_root``.

    ``spent`` (a dict) is kept up to date as each run finishes, failed ones included, so what a
    failed evaluation cost (retries too) is still recorded by the caller."""

    domains: list[Domain]
    task_agent_factory: Callable[[list[Tool]], TaskAgent]
    workdir: Path
    out_root: Path
    prompts_dir: str | None = None
    spent: dict = field(default_factory=dict)
    tasks_run: int = 0

    def run(self, domain: Domain, split: str, folder: str, num_samples: int | None) -> ReportSummary:
        """One pass of one domain's tasks on ``split`` (the first ``num_samples`` of them)."""
        domain = copy.copy(domain)  # concurrent children bind their own workspaces
        domain.bind_workspace(self.workdir)
        agent = self.task_agent_factory(domain.tools(self.workdir))
        if not isinstance(agent, TaskAgent):
            raise InvalidInput(f"task_agent_factory: expected it to return a TaskAgent, got {agent!r}")
        agent.workdir = self.workdir
        if self.prompts_dir and agent.options.prompt_file is None:
            agent.options.prompt_file = str(Path(self.prompts_dir) / "task_agent.txt")
        subset = subset_of(domain, split)
        with tally() as used:
            try:
                summary = run_coroutine(run_harness(domain, agent, self.out_root / folder, subset, num_samples))
            finally:
                self.spent.update(add_usage(self.spent, used.as_dict()))
        self.tasks_run += summary.n
        return summary

    def evaluate(
        self,
        eval_samples: int | None,
        splits: tuple[str, ...] = (TRAIN, VALIDATION),
        repeats: int = 1,
        spreads: dict | None = None,
    ) -> dict[str, dict[str, float]]:
        """``{split: {domain: score}}`` for the splits each domain has; with ``repeats``, a score is the
        mean of that many passes (later ones under ``..._repeat_<k>``), and ``spreads`` gets their
        standard deviations the same way."""
        by_split: dict[str, dict[str, float]] = {}
        for split in splits:
            for domain in self.domains:
                if not has_split(domain, split):
                    continue
                name = domain.config.name
                runs = [
                    self.run(domain, split, eval_folder(name, split, k), eval_samples).average_score
                    for k in range(repeats)
                ]
                by_split.setdefault(split, {})[name] = statistics.fmean(runs)
                if spreads is not None:
                    spreads.setdefault(split, {})[name] = statistics.pstdev(runs)
        return by_split

    def smoke_check(self) -> None:
        """Each domain's own check, then its first train task must run without an error."""
        for domain in self.domains:
            name = domain.config.name
            try:
                run_coroutine(domain.smoke_check(self.workdir))
                summary = self.run(domain, TRAIN, eval_folder(name, "smoke"), 1)
            except BudgetExceededError:
                raise
            except Exception as exc:  # noqa: BLE001 - any fault here means the child does not run
                raise SmokeCheckFailed(f"{name}: {type(exc).__name__}: {exc}") from exc
            if summary.errors:
                error = _first_error(self.out_root / eval_folder(name, "smoke"))
                raise SmokeCheckFailed(f"{name}: its first task failed: {error}")

    def sample(self, fraction: float, eval_samples: int | None, parent_dir: Path) -> tuple[float, float]:
        """(the child's mean score, the parent's) on the first ``fraction`` of each domain's train tasks."""
        child, parent = [], []
        for domain in self.domains:
            name = domain.config.name
            size = len(run_coroutine(domain.load_tasks(subset_of(domain, TRAIN), eval_samples)))
            take = max(1, math.ceil(fraction * size))
            child.append(self.run(domain, TRAIN, eval_folder(name, "sample"), take).average_score)
            parent.append(_first_scores(parent_dir / eval_folder(name), take))
        return statistics.fmean(child), statistics.fmean(parent)


def planned_tasks(domains: list[Domain], eval_samples: int | None, repeats: int) -> int:
    """How many task runs a full evaluation (train and validation, every repeat) takes."""
    total = 0
    for domain in domains:
        for split in (TRAIN, VALIDATION):
            if has_split(domain, split):
                total += len(run_coroutine(domain.load_tasks(subset_of(domain, split), eval_samples))) * repeats
    return total


def evaluate_workspace(
    domains: list[Domain],
    task_agent_factory: Callable[[list[Tool]], TaskAgent],
    workdir: str | Path,
    out_root: Path,
    eval_samples: int | None,
    prompts_dir: str | None,
    splits: tuple[str, ...] = (TRAIN, VALIDATION),
) -> tuple[dict[str, dict[str, float]], dict]:
    """The TaskAgent on every domain in ``workdir``, once per split: (``{split: {domain: score}}``, usage)."""
    scorer = WorkspaceScorer(domains, task_agent_factory, Path(workdir), out_root, prompts_dir)
    return scorer.evaluate(eval_samples, splits), scorer.spent


def _first_scores(folder: Path, take: int) -> float:
    """The mean score of the first ``take`` tasks a finished evaluation recorded (0 without one)."""
    try:
        predictions = json.loads((folder / "predictions.json").read_text())[:take]
    except (OSError, ValueError):
        return 0.0
    return statistics.fmean(float(p.get("score", 0.0)) for p in predictions) if predictions else 0.0


def _first_error(folder: Path) -> str:
    try:
        predictions = json.loads((folder / "predictions.json").read_text())
    except (OSError, ValueError):
        return "?"
    return next((str(p["error"]) for p in predictions if p.get("error")), "?")


def add_usage(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}
