"""Percentile pruning (median pruning at 50): stop a trial whose best value so far is outside
the best ``percentile`` % of the other trials' best values over as many reports.

The median rule is Golovin et al. (2017), Google Vizier's default. It decides at every
``check_interval``-th report from the ``warmup_reports``-th on, once ``min_trials`` others got
that far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hyperfunc_core.tuning.pruners.base import Pruner, StudyReports, check_count
from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:
    from hyperfunc_core.tuning.strategies.base import TrialRecord


@dataclass
class PercentilePruner(Pruner):
    percentile: float = 50.0  # the share of trials kept at each check, in per cent
    warmup_reports: int = 1
    min_trials: int = 3
    check_interval: int = 1

    name = "percentile"

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("warmup_reports", "min_trials", "check_interval"):
            check_count(key, getattr(self, key))
        if isinstance(self.percentile, bool) or not isinstance(self.percentile, (int, float)):
            raise InvalidInput(f"early_stopping_kwargs['percentile']: expected 0 < p < 100, got {self.percentile!r}")
        if not 0 < self.percentile < 100:
            raise InvalidInput(f"early_stopping_kwargs['percentile']: expected 0 < p < 100, got {self.percentile!r}")

    def due(self, trial: TrialRecord, reports: list[dict]) -> bool:
        n = len(reports)
        return n >= self.warmup_reports and n % self.check_interval == 0 and self.metric in reports[-1]

    def prune(self, trial: TrialRecord, reports: list[dict], study: StudyReports) -> bool:
        n = len(reports)
        mine = self.values(reports)
        if not mine or not self.due(trial, reports):
            return False
        peers = []
        for _, theirs in study.others(trial):
            values = self.values(theirs[:n])
            if len(theirs) >= n and values:
                peers.append(max(self.signed(v) for v in values))
        if len(peers) < self.min_trials:
            return False
        # Keep the best `percentile` %: in signed terms (higher is better), the cut is at 100 - p.
        cut = float(np.percentile(peers, 100 - self.percentile))
        return max(self.signed(v) for v in mine) < cut

    def describe(self) -> str:
        label = f"percentile {self.percentile:g}" if self.name == "percentile" else self.name  # a preset's name
        return f"{label} on {self.metric} ({self.mode})"
