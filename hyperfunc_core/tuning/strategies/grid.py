"""Grid search: every combination of the discrete values, each run once per study."""

from __future__ import annotations

from hyperfunc_core.tuning.space import Space
from hyperfunc_core.tuning.strategies.base import Strategy, Suggestion, TrialRecord
from hyperfunc_core.validation import InvalidInput


class GridSearch(Strategy):
    """Continuous ``Float`` parameters need ``resolution`` (points per axis)."""

    name = "grid"

    def __init__(self, space: Space, *, resolution: int | None = None, shuffle: bool = False, **kw) -> None:
        super().__init__(space, **kw)
        if resolution is not None and (not isinstance(resolution, int) or resolution < 2):
            raise InvalidInput(f"strategy_kwargs['resolution']: expected an integer >= 2, got {resolution!r}")
        self.points = space.grid(resolution)
        if shuffle:
            self.rng.shuffle(self.points)
        self._done: set[str] = set()
        self._cursor = 0

    def ask(self) -> Suggestion | None:
        while self._cursor < len(self.points):
            point = self.points[self._cursor]
            self._cursor += 1
            if self.space.key(point) not in self._done:
                return Suggestion(dict(point), unique=True)
        return None

    def tell(self, trial: TrialRecord) -> None:
        super().tell(trial)
        self._done.add(self.space.key(trial.params))

    @property
    def exhausted(self) -> bool:
        return self._cursor >= len(self.points)

    def max_trials_hint(self) -> int:
        return len(self.points)
