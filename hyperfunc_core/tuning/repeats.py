"""A strategy's exact repeat of a point is answered, never run again.

Strategies that propose several points at once (concurrent asks), LLMs that propose what they
already proposed, and random draws from a small discrete space all repeat points. A repeat of a
finished trial is told that trial's outcome at once; a repeat of a trial this sweep is running
waits for it and is told its outcome when it finishes. The strategy hears of every point it
asked for (a tree counts its children), the objective runs each point once, and the study
records each point once.
"""

from __future__ import annotations

import dataclasses

from hyperfunc_core.tuning.space import Space
from hyperfunc_core.tuning.strategies.base import Strategy, Suggestion, TrialRecord

GIVE_UP_AFTER = 200  # repeats in a row: the strategy has nothing new to propose (a small space, used up)


class RepeatedPoints:
    def __init__(self, space: Space, strategy: Strategy, trials: list[TrialRecord]) -> None:
        self.space, self.strategy = space, strategy
        self.points = {space.key(t.params): t for t in trials if t.state != "interrupted"}
        self.waiting: dict[str, list[Suggestion]] = {}  # running trial id -> repeats told when it finishes
        self.mine: set[str] = set()  # trials this sweep runs
        self.in_a_row = 0
        self.answered = 0

    def answered_now(self, suggestion: Suggestion) -> bool:
        """True when ``suggestion`` repeats a point of the study: it was answered (or will be), not run."""
        earlier = self.points.get(self.space.key(suggestion.params))
        if earlier is None:
            self.in_a_row = 0
            return False
        self.in_a_row += 1
        self.answered += 1
        if earlier.trial_id in self.mine and not earlier.finished:
            self.waiting.setdefault(earlier.trial_id, []).append(suggestion)
        else:  # finished, or running in another process (whose outcome this sweep never hears): say so
            self.strategy.tell(self._again(earlier, suggestion))
        return True

    @property
    def used_up(self) -> bool:
        return self.in_a_row >= GIVE_UP_AFTER

    def started(self, trial: TrialRecord) -> None:
        self.points[self.space.key(trial.params)] = trial
        self.mine.add(trial.trial_id)

    def finished(self, trial: TrialRecord) -> None:
        """After the strategy was told ``trial``: tell it the repeats that waited for it."""
        self.points[self.space.key(trial.params)] = trial
        for suggestion in self.waiting.pop(trial.trial_id, []):
            self.strategy.tell(self._again(trial, suggestion))

    def _again(self, earlier: TrialRecord, suggestion: Suggestion) -> TrialRecord:
        state = earlier.state if earlier.finished else "failed"
        return dataclasses.replace(
            earlier,
            trial_id=f"{earlier.trial_id}~{self.answered}",
            state=state,
            # The earlier outcome (every objective's value, constraints, feasibility) under the new ask's
            # own bookkeeping (a tree's depth, an Optuna trial number).
            info={**earlier.info, **suggestion.info, "repeat_of": earlier.trial_id},
            error=earlier.error if earlier.finished else "the same point is running in another process",
            metrics=dict(earlier.metrics),
        )

    def note(self) -> str | None:
        if not self.answered:
            return None
        said = f"{self.answered} proposed points repeated earlier trials and were answered from them, not run again"
        if self.used_up:
            said += f"; the strategy proposed {GIVE_UP_AFTER} repeats in a row, so the sweep stopped asking"
        return said
