"""Random search: every point drawn uniformly (log-uniformly where asked) from the space."""

from __future__ import annotations

from hyperfunc_core.tuning.strategies.base import Strategy, Suggestion


class RandomSearch(Strategy):
    name = "random"

    def ask(self) -> Suggestion:
        return Suggestion(self.space.sample(self.rng))
