"""Grid search: every combination of the discrete values, each run once per study."""

from __future__ import annotations

from hyperfunc_core.tuning.space import Float, Space
from hyperfunc_core.tuning.strategies.base import Strategy, Suggestion, TrialRecord
from hyperfunc_core.validation import InvalidInput

DEFAULT_RESOLUTION = 5  # points per Float axis when none is given: its ends, middle and quarters


class GridSearch(Strategy):
    """``resolution``: points per ``Float`` axis (evenly spaced, on a log scale for ``log=True``);
    default ``DEFAULT_RESOLUTION``, said in the sweep's summary."""

    name = "grid"
    several_objectives = True  # neither learns from values

    def __init__(self, space: Space, *, resolution: int | None = None, shuffle: bool = False, **kw) -> None:
        super().__init__(space, **kw)
        if resolution is not None and (
            isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2
        ):
            raise InvalidInput(f"strategy_kwargs['resolution']: expected an integer >= 2, got {resolution!r}")
        continuous = [name for name, p in space.params.items() if isinstance(p, Float)]
        self._defaulted = continuous if resolution is None else []
        self.points = space.grid(resolution, float_resolution=DEFAULT_RESOLUTION)
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

    def notes(self) -> list[str]:
        if not self._defaulted:
            return []
        return [
            f"grid: {', '.join(self._defaulted)} at the default {DEFAULT_RESOLUTION} points per axis "
            f"({len(self.points)} points in all); strategy_kwargs={{'resolution': N}} sets another"
        ]

    def max_trials_hint(self) -> int:
        return len(self.points)
