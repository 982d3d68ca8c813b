"""Successive halving (ASHA) and Hyperband: spend steps on the trials that lead at each rung.

Rungs sit at ``min_resource * reduction_factor ** (min_early_stopping_rate + k)`` reported steps.
When a trial's report first reaches a rung, its value there is ranked among the values the
competing trials had at that rung (their first report at or past it); it goes on only if it is in
the best ``1 / reduction_factor`` of them (the best one while fewer than ``reduction_factor``
have got there). Trials cannot be paused here, so halving is always the asynchronous form
(ASHA, Li et al. 2020): a trial is judged against the trials that reached the rung before it.

- ``SuccessiveHalvingPruner(cohort=0)``: every trial of the study competes (ASHA).
- ``SuccessiveHalvingPruner(cohort=n)``: trials compete in rounds of ``n`` consecutive trials,
  successive halving's "n configurations per round" (Jamieson & Talwalkar 2016).
- ``HyperbandPruner``: several halving brackets, each starting to prune one rung later than the
  last (Li et al. 2018); a trial's bracket follows from its number, weighted so every bracket
  spends about the same budget, and it competes only within its bracket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hyperfunc_core.tuning.pruners.base import Pruner, StudyReports, check_count

if TYPE_CHECKING:
    from hyperfunc_core.tuning.strategies.base import TrialRecord


def rungs_crossed(reports: list[dict], min_resource: int, reduction_factor: int, first_rung: int) -> list[int]:
    """The rungs (in steps) the last report reached that the report before it had not."""
    step = reports[-1]["step"]
    before = reports[-2]["step"] if len(reports) > 1 else -1
    rungs, k = [], first_rung
    while (rung := min_resource * reduction_factor**k) <= step:
        if rung > before:
            rungs.append(rung)
        k += 1
    return rungs


@dataclass
class SuccessiveHalvingPruner(Pruner):
    min_resource: int = 1
    reduction_factor: int = 3
    min_early_stopping_rate: int = 0
    cohort: int = 0  # 0: the whole study competes at each rung (ASHA); n: rounds of n consecutive trials

    name = "successive_halving"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_count("min_resource", self.min_resource)
        check_count("reduction_factor", self.reduction_factor, 2)
        check_count("min_early_stopping_rate", self.min_early_stopping_rate, 0)
        check_count("cohort", self.cohort, 0)

    def crossed(self, reports: list[dict]) -> list[int]:
        return rungs_crossed(reports, self.min_resource, self.reduction_factor, self.min_early_stopping_rate)

    def due(self, trial: TrialRecord, reports: list[dict]) -> bool:
        return self.metric in reports[-1] and bool(self.crossed(reports))

    def competes(self, trial: TrialRecord, other: TrialRecord) -> bool:
        return not self.cohort or trial.number // self.cohort == other.number // self.cohort

    def prune(self, trial: TrialRecord, reports: list[dict], study: StudyReports) -> bool:
        if not self.due(trial, reports):
            return False
        rivals = [theirs for other, theirs in study.others(trial) if self.competes(trial, other)]
        return self.loses(reports, rivals)

    def loses(self, reports: list[dict], rivals: list[list[dict]]) -> bool:
        """Whether the last report, at each rung it reached, falls outside the best 1/η of the rung."""
        value = self.signed(float(reports[-1][self.metric]))
        for rung in self.crossed(reports):
            ranked = sorted([v for theirs in rivals if (v := self._at(theirs, rung)) is not None] + [value])
            kept = max(1, len(ranked) // self.reduction_factor)
            if value < ranked[-kept]:
                return True
        return False

    def _at(self, reports: list[dict], rung: int) -> float | None:
        """A trial's value at a rung: its first report at or past it (None if it never got there)."""
        for report in reports:
            if report["step"] >= rung and self.metric in report:
                return self.signed(float(report[self.metric]))
        return None

    def describe(self) -> str:
        kind = f"successive halving in rounds of {self.cohort}" if self.cohort else "ASHA"
        return (
            f"{kind} (rungs at {self.min_resource}×{self.reduction_factor}^k steps, "
            f"k ≥ {self.min_early_stopping_rate}) on {self.metric} ({self.mode})"
        )


@dataclass
class HyperbandPruner(Pruner):
    min_resource: int = 1
    max_resource: int | str = "auto"  # "auto": the most steps any finished trial reported
    reduction_factor: int = 3

    name = "hyperband"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_count("min_resource", self.min_resource)
        check_count("reduction_factor", self.reduction_factor, 2)
        if self.max_resource != "auto":
            check_count("max_resource", self.max_resource, self.min_resource)

    def due(self, trial: TrialRecord, reports: list[dict]) -> bool:
        # Bracket 0 has every rung any bracket has; asked at every report, so no pruner is built for it.
        return self.metric in reports[-1] and bool(rungs_crossed(reports, self.min_resource, self.reduction_factor, 0))

    def prune(self, trial: TrialRecord, reports: list[dict], study: StudyReports) -> bool:
        top = self._max_resource(study)
        if top is None or not self.due(trial, reports):
            return False
        brackets = self.brackets(top)
        mine = self.bracket_of(trial.number, brackets)
        rivals = [theirs for other, theirs in study.others(trial) if self.bracket_of(other.number, brackets) == mine]
        return self._halving(mine).loses(reports, rivals)

    def brackets(self, max_resource: int) -> int:
        return int(math.floor(math.log(max(max_resource / self.min_resource, 1), self.reduction_factor) + 1e-9)) + 1

    def bracket_of(self, number: int, brackets: int) -> int:
        """Bracket b prunes from rung b on; each gets trials in proportion to what it costs (Optuna's weights)."""
        weights = [
            math.ceil(brackets * self.reduction_factor ** (brackets - 1 - b) / (brackets - b)) for b in range(brackets)
        ]
        slot = number % sum(weights)
        for b, weight in enumerate(weights):
            if slot < weight:
                return b
            slot -= weight
        raise AssertionError("unreachable")

    def _halving(self, bracket: int) -> SuccessiveHalvingPruner:
        return SuccessiveHalvingPruner(
            self.metric, self.mode, self.min_resource, self.reduction_factor, min_early_stopping_rate=bracket
        )

    def _max_resource(self, study: StudyReports) -> int | None:
        if self.max_resource != "auto":
            return int(self.max_resource)
        steps = [
            max(r["step"] for r in study.reports.get(t.trial_id) or [{"step": 0}])
            for t in study.trials
            if t.state == "complete"
        ]
        return max(steps) if steps and max(steps) >= self.min_resource else None

    def describe(self) -> str:
        return (
            f"hyperband (rungs at {self.min_resource}×{self.reduction_factor}^k steps, "
            f"max {self.max_resource}) on {self.metric} ({self.mode})"
        )
