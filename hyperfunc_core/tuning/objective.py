"""What an objective receives (``TrialContext``) and returns (``ObjectiveResult``)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ObjectiveResult:
    """The outcome of one trial: the primary score, extra metrics and artifact paths."""

    score: float
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)


class TrialPruned(Exception):
    """Raise from an objective to end a trial as pruned (``should_stop()`` already said so)."""


class TrialContext:
    """Handed to the objective as ``ctx``: reports progress and says when to stop.

    ``report`` goes to storage as it happens and, where an early-stopping policy or the
    strategy decides the trial should end, turns ``should_stop()`` true.
    """

    def __init__(
        self, trial_id: str, number: int, params: dict, on_report: Callable[[int, dict], bool] | None = None
    ) -> None:
        self.trial_id = trial_id
        self.number = number
        self.params = params
        self._on_report = on_report
        self._stop = threading.Event()
        self.reports: list[tuple[int, dict]] = []

    def report(self, step: int | None = None, **metrics: Any) -> None:
        """Record progress at ``step`` (default: the next step number)."""
        if step is None:
            step = len(self.reports)
        if not isinstance(step, int) or isinstance(step, bool):
            raise TypeError(f"ctx.report: step must be an integer, got {step!r}")
        clean = {k: _jsonable(v) for k, v in metrics.items()}
        self.reports.append((step, clean))
        if self._on_report is not None and self._on_report(step, clean):
            self._stop.set()

    def should_stop(self) -> bool:
        """True once an early-stopping policy (or the sweep) stopped this trial."""
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy and torch scalars
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    return value


def as_result(returned: Any) -> ObjectiveResult:
    """Accept an ``ObjectiveResult``, a number, or a dict with a ``score`` key."""
    if isinstance(returned, ObjectiveResult):
        result = returned
    elif isinstance(returned, dict) and "score" in returned:
        result = ObjectiveResult(
            returned["score"], dict(returned.get("metrics", {})), dict(returned.get("artifacts", {}))
        )
    elif isinstance(returned, (int, float)) and not isinstance(returned, bool) or hasattr(returned, "item"):
        result = ObjectiveResult(float(_jsonable(returned)))
    else:
        raise TypeError(
            f"objective must return ObjectiveResult or a number, got {type(returned).__name__}: {returned!r}"
        )
    result.score = float(_jsonable(result.score))
    result.metrics = {k: _jsonable(v) for k, v in result.metrics.items()}
    return result


def metric_value(result: ObjectiveResult, metric: str, reports: list[tuple[int, dict]]) -> float:
    """The value ``metric`` names: the score, a returned metric, or else the last reported one."""
    if metric == "score":
        value = result.score
    elif metric in result.metrics:
        value = result.metrics[metric]
    else:
        reported = [m[metric] for _, m in reports if metric in m]
        if not reported:
            raise KeyError(
                f"metric {metric!r} is neither 'score' nor a key of ObjectiveResult.metrics or of ctx.report(...)"
            )
        value = reported[-1]
    value = float(value)
    if not math.isfinite(value):
        raise NonFiniteValue(metric, value)
    return value


class NonFiniteValue(ValueError):
    """An objective's value was NaN or ±inf: the trial is recorded as failed with the value, never as a result."""

    def __init__(self, metric: str, value: float) -> None:
        super().__init__(
            f"objective returned a non-finite value ({'NaN' if math.isnan(value) else value}) "
            f"for metric {metric!r}; "
            f"a trial's value must be a finite number"
        )
        self.value = value
