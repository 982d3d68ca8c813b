"""The interface every pruner implements: a pure decision over a study's stored reports.

A pruner is asked, after a trial reports, whether the trial should stop. It reads only what
storage holds (this trial's reports, the other trials and theirs), so it behaves the same on
every store, across processes and after a resume, and is tested as plain Python. ``due`` is the
cheap first question (is this report one the pruner looks at?): only then does the sweep read
the whole study.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:  # strategies import pruners (a tree prunes its own branches)
    from hyperfunc_core.tuning.strategies.base import TrialRecord


@dataclass
class StudyReports:
    """What a pruner may read: the study's trials and every trial's reports (dicts with ``step``)."""

    trials: list[TrialRecord]
    reports: dict[str, list[dict]]

    def others(self, trial: TrialRecord) -> list[tuple[TrialRecord, list[dict]]]:
        return [(t, self.reports.get(t.trial_id, [])) for t in self.trials if t.trial_id != trial.trial_id]


@dataclass
class Pruner:
    """Base class. ``metric``/``mode`` name the reported value it watches and which way is better."""

    metric: str = "score"
    mode: str = "max"

    name = "custom"

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise InvalidInput(f"early_stopping_kwargs['metric']: expected a reported key, got {self.metric!r}")
        if self.mode not in ("max", "min"):
            raise InvalidInput(f"early_stopping_kwargs['mode']: expected 'max' or 'min', got {self.mode!r}")

    def due(self, trial: TrialRecord, reports: list[dict]) -> bool:
        """Whether the trial's last report is one this pruner decides on."""
        return True

    def prune(self, trial: TrialRecord, reports: list[dict], study: StudyReports) -> bool:
        """Whether the trial should stop now; ``reports`` are its own, in order."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} on {self.metric} ({self.mode})"

    @classmethod
    def options(cls) -> tuple[str, ...]:
        """The keyword arguments ``early_stopping_kwargs`` may set."""
        return tuple(f.name for f in fields(cls))

    # -- helpers for subclasses ----------------------------------------------------
    def values(self, reports: list[dict]) -> list[float]:
        return [float(r[self.metric]) for r in reports if self.metric in r]

    def signed(self, value: float) -> float:
        """Higher is better, whatever the mode."""
        return value if self.mode == "max" else -value


def check_count(name: str, value: object, minimum: int = 1) -> None:
    """An integer option of a pruner, at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"early_stopping_kwargs[{name!r}]: expected an integer >= {minimum}, got {value!r}")


def blind_text(pruner: Pruner, reported_keys: set[str]) -> str:
    """What to say when trials report, but never the value the pruner watches."""
    keys = sorted(reported_keys)
    hint = keys[0] if keys else "val_loss"
    return (
        f"early stopping ({pruner.describe()}) cannot see {pruner.metric!r}: trials report only {keys}, "
        f"so no trial can be stopped; pass early_stopping_kwargs={{'metric': {hint!r}, 'mode': 'min' or 'max'}} "
        f"or report {pruner.metric!r} with ctx.report(...)"
    )
