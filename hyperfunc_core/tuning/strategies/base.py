"""The small interface every search strategy implements, built-in or the user's own.

A strategy is asked for one point at a time and told every finished trial. It never runs
the objective and never touches storage, so it can be tested as plain Python and rebuilt
on resume by telling it the finished trials again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyperfunc_core.tuning.space import Space

FINISHED_STATES = ("complete", "failed", "pruned")


@dataclass
class Suggestion:
    """A point to try. ``unique`` asks storage to run it at most once per study, across processes."""

    params: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    unique: bool = False


@dataclass
class TrialRecord:
    """A trial as strategies, policies and results see it. ``params`` are flat (dotted) names."""

    number: int
    trial_id: str
    params: dict[str, Any]
    state: str = "running"
    value: float | None = None
    score: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration_s: float | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def usable(self) -> bool:
        """Complete with a finite value that kept the sweep's constraints: a result to rank and learn from
        (a non-finite value stored by an older version is not)."""
        return (
            self.state == "complete"
            and self.value is not None
            and math.isfinite(self.value)
            and self.info.get("feasible", True)
        )


class Strategy:
    """Base class: subclass it, implement ``ask`` (and ``tell`` when the strategy learns)."""

    name = "custom"
    several_objectives = False  # True: searches for a Pareto front when a sweep names several metrics

    def __init__(self, space: Space, *, mode: str = "max", seed: int | None = None) -> None:
        self.space = space
        self.mode = mode
        self.rng = np.random.default_rng(seed)
        self.trials: list[TrialRecord] = []
        self.running: dict[str, dict[str, Any]] = {}  # trial id -> params of the trials now running

    def ask(self) -> Suggestion | None:
        """The next point, or None when nothing can be proposed until running trials finish."""
        raise NotImplementedError

    def started(self, trial: TrialRecord) -> None:
        """A trial of this sweep started (``running`` holds it until it is told): what a strategy
        that proposes several points at once must not propose again."""
        self.running[trial.trial_id] = dict(trial.params)

    def tell(self, trial: TrialRecord) -> None:
        """Learn from a finished trial (complete, failed or pruned)."""
        self.running.pop(trial.trial_id, None)
        self.trials.append(trial)

    @property
    def exhausted(self) -> bool:
        """True when the strategy will never propose another point."""
        return False

    def pruner(self, metric: str) -> Any:
        """The strategy's own pruner (a ``tuning.pruners.Pruner``) watching ``metric``, or None."""
        return None

    def max_trials_hint(self) -> int | None:
        """How many trials the strategy plans when the user gives no ``max_trials``."""
        return None

    def notes(self) -> list[str]:
        """Choices the strategy made for the user (a default it filled in), for the sweep's summary."""
        return []

    # -- helpers for subclasses ----------------------------------------------------
    def signed(self, value: float) -> float:
        """Higher is better, whatever the mode."""
        return value if self.mode == "max" else -value

    def completed(self) -> list[TrialRecord]:
        """Finished trials with a usable value (a non-finite one stored by an older version is left out)
        that kept the sweep's constraints."""
        return [t for t in self.trials if t.usable]

    def best(self, k: int = 1) -> list[TrialRecord]:
        return sorted(self.completed(), key=lambda t: self.signed(t.value), reverse=True)[:k]
