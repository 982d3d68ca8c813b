"""What a sweep optimizes: one or several reported values, and constraints that must hold.

``metric="loss"`` is one objective; ``metric=["loss", "latency"]`` with ``mode=["min", "min"]``
several, whose answer is a Pareto front (no trial on it is beaten on every objective by another)
rather than one best. ``constraints=["memory_over"]`` names values that must be <= 0: a trial
that breaks one still completes and is kept, but is never the best nor on the front, and the
strategies that learn treat it as unusable. A trial's first objective is its ``value``, so every
table, plot and pruner that shows one value shows the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hyperfunc_core.tuning.objective import ObjectiveResult, metric_value
from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:  # strategies are built for goals
    from hyperfunc_core.tuning.strategies.base import TrialRecord


def _names(option: str, given: Any, allow_empty: bool) -> tuple[str, ...]:
    names = [given] if isinstance(given, str) else given
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
        raise InvalidInput(f"{option}: expected a metric name or a list of them, got {given!r}")
    if not names and not allow_empty:
        raise InvalidInput(f"{option}: expected at least one metric name, got {given!r}")
    if len(set(names)) != len(names):
        raise InvalidInput(f"{option}: names a metric twice: {given!r}")
    return tuple(names)


@dataclass(frozen=True)
class Goals:
    metrics: tuple[str, ...]
    modes: tuple[str, ...]
    constraints: tuple[str, ...] = ()

    @classmethod
    def parse(cls, metric: Any, mode: Any, constraints: Any = None) -> "Goals":
        """Check ``tune``'s metric/mode/constraints, one line naming what is wrong."""
        metrics = _names("metric", metric, allow_empty=False)
        modes = [mode] * len(metrics) if isinstance(mode, str) else mode
        if not isinstance(modes, (list, tuple)) or len(modes) != len(metrics):
            raise InvalidInput(f"mode: expected 'max', 'min' or one of them per metric ({len(metrics)}), got {mode!r}")
        for one in modes:
            if one not in ("max", "min"):
                raise InvalidInput(f"mode: expected 'max' or 'min', got {one!r}")
        limits = _names("constraints", constraints or [], allow_empty=True)
        both = set(limits) & set(metrics)
        if both:
            raise InvalidInput(f"constraints: {sorted(both)} are objectives too; a constraint is a value kept <= 0")
        return cls(metrics, tuple(modes), limits)

    @property
    def several(self) -> bool:
        return len(self.metrics) > 1

    @property
    def stored_metric(self) -> str:
        """The study's metric as storage keeps it (one column): ``"loss"``, or ``"loss,latency"``."""
        return ",".join(self.metrics)

    @property
    def stored_mode(self) -> str:
        return ",".join(self.modes)

    def measure(self, trial: TrialRecord, result: ObjectiveResult, reports: list[tuple[int, dict]]) -> None:
        """Set the trial's value(s) and constraint values from what its objective returned and reported;
        a missing or non-finite one raises (the trial fails, naming it)."""
        values = [metric_value(result, m, reports) for m in self.metrics]
        trial.value = values[0]
        if self.several:
            trial.info["values"] = values
        if self.constraints:
            limits = {c: metric_value(result, c, reports) for c in self.constraints}
            trial.info["constraints"] = limits
            trial.info["feasible"] = all(v <= 0 for v in limits.values())

    def values(self, trial: TrialRecord) -> list[float]:
        return list(trial.info.get("values") or [trial.value])

    def pareto(self, trials: list[TrialRecord]) -> list[TrialRecord]:
        """The usable trials (complete, feasible) no other such trial beats on every objective, by first objective."""
        signs = [1.0 if m == "max" else -1.0 for m in self.modes]
        points = [(t, [s * v for s, v in zip(signs, self.values(t))]) for t in trials if t.usable]

        def beaten(p: list[float]) -> bool:
            return any(all(a >= b for a, b in zip(q, p)) and q != p for _, q in points)

        front = [t for t, p in points if not beaten(p)]
        return sorted(front, key=lambda t: signs[0] * -self.values(t)[0])
