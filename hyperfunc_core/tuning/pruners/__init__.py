"""Pruners: stop trials that fall behind, from what the study has stored.

``early_stopping=`` takes a preset name or a ``Pruner``; ``early_stopping_kwargs`` overrides the
preset's options (and ``metric``/``mode``, which default to the sweep's). The presets:

- ``median`` (Golovin et al. 2017): from the 3rd report, against 3 other trials, at every report;
  ``aggressive``: from the 1st report, against 2; ``patient``: from the 10th, against 5, at every
  2nd report. The seed's ``check_interval: 100`` still means a look at reports 100, 200, ...
- ``percentile``: keeps the best 25 % at every report from the 3rd (``percentile=`` changes it).
- ``asha``: asynchronous successive halving, rungs at 1, 3, 9, 27, ... steps.
- ``successive_halving``: the same rungs, trials competing in rounds of 27 (``cohort=``).
- ``hyperband``: halving brackets from rung 0, 1, 2, ...; the largest budget is the most steps a
  finished trial reported unless ``max_resource=`` says.

A step is the ``step`` of ``ctx.report(step, ...)`` (by default the report's index): epochs,
batches, whatever the objective counts.
"""

from __future__ import annotations

from hyperfunc_core.tuning.pruners.base import Pruner, StudyReports, blind_text
from hyperfunc_core.tuning.pruners.halving import HyperbandPruner, SuccessiveHalvingPruner
from hyperfunc_core.tuning.pruners.percentile import PercentilePruner
from hyperfunc_core.validation import InvalidInput

PRESETS: dict[str, tuple[type[Pruner], dict]] = {
    "median": (PercentilePruner, {"warmup_reports": 3, "min_trials": 3}),
    "aggressive": (PercentilePruner, {"warmup_reports": 1, "min_trials": 2}),
    "patient": (PercentilePruner, {"warmup_reports": 10, "min_trials": 5, "check_interval": 2}),
    "percentile": (PercentilePruner, {"percentile": 25.0, "warmup_reports": 3, "min_trials": 3}),
    "asha": (SuccessiveHalvingPruner, {}),
    "successive_halving": (SuccessiveHalvingPruner, {"cohort": 27}),
    "hyperband": (HyperbandPruner, {}),
}


def make_pruner(name: str | Pruner | None, kwargs: dict | None, metric: str, mode: str) -> Pruner | None:
    """The pruner ``early_stopping``/``early_stopping_kwargs`` ask for; fails fast on a bad name or option."""
    if name is None:
        if kwargs:
            raise InvalidInput("early_stopping_kwargs: given without early_stopping")
        return None
    if isinstance(name, Pruner):
        if kwargs:
            raise InvalidInput("early_stopping_kwargs: given with a Pruner instance; set its options on it")
        return name
    if name not in PRESETS:
        raise InvalidInput(f"early_stopping: expected one of {sorted(PRESETS)}, a Pruner or None, got {name!r}")
    kind, preset = PRESETS[name]
    unknown = set(kwargs or {}) - set(kind.options())
    if unknown:
        raise InvalidInput(
            f"early_stopping_kwargs: unknown keys {sorted(unknown)} for {name!r}; "
            f"expected some of {', '.join(kind.options())}"
        )
    pruner = kind(**{"metric": metric, "mode": mode, **preset, **(kwargs or {})})
    pruner.name = name
    return pruner


__all__ = [
    "PRESETS",
    "HyperbandPruner",
    "PercentilePruner",
    "Pruner",
    "StudyReports",
    "SuccessiveHalvingPruner",
    "blind_text",
    "make_pruner",
]
