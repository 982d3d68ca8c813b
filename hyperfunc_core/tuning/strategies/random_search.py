"""Random search, drawn as randomised quasi-Monte Carlo.

Points come from a scrambled Sobol sequence mapped through ``Space.from_unit``: every
marginal is uniform (log-uniform where asked) like i.i.d. draws, but the points leave
fewer gaps, so the best of N is better on average. The scramble is seeded; a resumed
study skips the points its finished trials already used.
"""

from __future__ import annotations

import warnings

from scipy.stats import qmc

from hyperfunc_core.tuning.space import Space
from hyperfunc_core.tuning.strategies.base import Strategy, Suggestion


class RandomSearch(Strategy):
    name = "random"
    several_objectives = True  # neither learns from values

    def __init__(self, space: Space, **kw) -> None:
        super().__init__(space, **kw)
        self._sobol = qmc.Sobol(len(space.names), scramble=True, seed=self.rng)
        self._drawn = 0

    def ask(self) -> Suggestion:
        behind = len(self.trials) - self._drawn  # trials told on resume that this engine never drew
        if behind > 0:
            self._sobol.fast_forward(behind)
            self._drawn += behind
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol prefers powers of two; any prefix is still well spread
            u = self._sobol.random(1)[0]
        self._drawn += 1
        return Suggestion(self.space.from_unit(u), info={"sampler": "sobol"})
