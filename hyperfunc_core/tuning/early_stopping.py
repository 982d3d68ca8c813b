"""Early-stopping policies: stop trials that fall behind the others.

The median rule (Golovin et al., 2017): at every ``check_interval``-th report, a trial
whose best value so far is worse than the median of the other trials' best values over
the same number of reports is stopped, once at least ``min_trials`` others got that far.
``aggressive`` and ``patient`` are the same rule checked every 25 and every 200 reports.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass
class MedianStoppingPolicy:
    check_interval: int = 100
    min_trials: int = 3
    metric: str = "score"
    mode: str = "max"

    def __post_init__(self) -> None:
        for name in ("check_interval", "min_trials"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"early_stopping_kwargs[{name!r}]: expected an integer >= 1, got {value!r}")

    def _best(self, values: list[float]) -> float:
        return max(values) if self.mode == "max" else min(values)

    def should_stop(self, reports: list[dict], others: list[list[dict]]) -> bool:
        """``reports``: this trial's metrics in order; ``others``: the other trials' reports."""
        n = len(reports)
        if n == 0 or n % self.check_interval:
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


PRESETS = {"median": 100, "aggressive": 25, "patient": 200}


def make_policy(
    name: str | MedianStoppingPolicy | None, kwargs: dict | None, metric: str, mode: str
) -> MedianStoppingPolicy | None:
    if name is None:
        if kwargs:
            raise ValueError("early_stopping_kwargs: given without early_stopping")
        return None
    if isinstance(name, MedianStoppingPolicy):
        return name
    if name not in PRESETS:
        raise ValueError(f"early_stopping: expected one of {sorted(PRESETS)} or None, got {name!r}")
    options = {"check_interval": PRESETS[name], **(kwargs or {})}
    unknown = set(options) - {"check_interval", "min_trials"}
    if unknown:
        raise ValueError(f"early_stopping_kwargs: unknown keys {sorted(unknown)}; expected check_interval, min_trials")
    return MedianStoppingPolicy(metric=metric, mode=mode, **options)
