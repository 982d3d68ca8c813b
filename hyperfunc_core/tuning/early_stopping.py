"""Early-stopping policies: stop trials that fall behind the others.

The median rule (Golovin et al., 2017): at every ``check_interval``-th report from a trial's
``warmup_reports``-th on, a trial whose best value so far is worse than the median of the
other trials' best values over as many reports is stopped, once at least ``min_trials`` others
got that far. The policy watches one reported value: the sweep's ``metric`` (and ``mode``) unless
``early_stopping_kwargs`` names another (``{"metric": "val_loss", "mode": "min"}``).

The presets, for the usual 10-100 reports (epochs) per trial:

- ``aggressive``: from the 1st report, against 2 other trials, at every report;
- ``median``: from the 3rd report, against 3 other trials, at every report;
- ``patient``: from the 10th report, against 5 other trials, at every 2nd report.

The seed's ``check_interval: 100`` still means a look at reports 100, 200, ...
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from hyperfunc_core.validation import InvalidInput


@dataclass
class MedianStoppingPolicy:
    check_interval: int = 1
    min_trials: int = 3
    metric: str = "score"
    mode: str = "max"
    warmup_reports: int = 1
    name: str = "median"

    def __post_init__(self) -> None:
        for key in ("warmup_reports", "min_trials", "check_interval"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"early_stopping_kwargs[{key!r}]: expected an integer >= 1, got {value!r}")
        if not isinstance(self.metric, str) or not self.metric:
            raise InvalidInput(f"early_stopping_kwargs['metric']: expected a reported key, got {self.metric!r}")
        if self.mode not in ("max", "min"):
            raise InvalidInput(f"early_stopping_kwargs['mode']: expected 'max' or 'min', got {self.mode!r}")

    def due(self, n_reports: int) -> bool:
        """Whether a trial's ``n_reports``-th report is one the policy looks at."""
        return n_reports >= self.warmup_reports and n_reports % self.check_interval == 0

    def _best(self, values: list[float]) -> float:
        return max(values) if self.mode == "max" else min(values)

    def should_stop(self, reports: list[dict], others: list[list[dict]]) -> bool:
        """``reports``: this trial's metrics in order; ``others``: the other trials' reports."""
        n = len(reports)
        if n == 0 or not self.due(n):
            return False
        mine = [r[self.metric] for r in reports if self.metric in r]
        if not mine:
            return False
        peers = []
        for other in others:
            values = [r[self.metric] for r in other[:n] if self.metric in r]
            if len(other) >= n and values:
                peers.append(self._best(values))
        if len(peers) < self.min_trials:
            return False
        median = statistics.median(peers)
        best = self._best(mine)
        return best < median if self.mode == "max" else best > median

    def describe(self) -> str:
        return f"{self.name} on {self.metric} ({self.mode})"


PRESETS = {
    "aggressive": {"warmup_reports": 1, "min_trials": 2, "check_interval": 1},
    "median": {"warmup_reports": 3, "min_trials": 3, "check_interval": 1},
    "patient": {"warmup_reports": 10, "min_trials": 5, "check_interval": 2},
}
OPTIONS = ("warmup_reports", "min_trials", "check_interval", "metric", "mode")


def make_policy(
    name: str | MedianStoppingPolicy | None, kwargs: dict | None, metric: str, mode: str
) -> MedianStoppingPolicy | None:
    if name is None:
        if kwargs:
            raise InvalidInput("early_stopping_kwargs: given without early_stopping")
        return None
    if isinstance(name, MedianStoppingPolicy):
        return name
    if name not in PRESETS:
        raise InvalidInput(f"early_stopping: expected one of {sorted(PRESETS)} or None, got {name!r}")
    unknown = set(kwargs or {}) - set(OPTIONS)
    if unknown:
        raise InvalidInput(
            f"early_stopping_kwargs: unknown keys {sorted(unknown)}; expected some of {', '.join(OPTIONS)}"
        )
    options = {"metric": metric, "mode": mode, **PRESETS[name], **(kwargs or {})}
    return MedianStoppingPolicy(name=name, **options)


def blind_policy_text(policy: MedianStoppingPolicy, reported_keys: set[str]) -> str:
    """What to say when trials report, but never the value the policy watches."""
    keys = sorted(reported_keys)
    hint = keys[0] if keys else "val_loss"
    return (
        f"early stopping ({policy.describe()}) cannot see {policy.metric!r}: trials report only {keys}, "
        f"so no trial can be stopped; pass early_stopping_kwargs={{'metric': {hint!r}, 'mode': 'min' or 'max'}} "
        f"or report {policy.metric!r} with ctx.report(...)"
    )
