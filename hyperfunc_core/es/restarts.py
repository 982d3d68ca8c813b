"""Restarts (IPOP, Auger & Hansen 2005): start a strategy again from θ₀ when it has converged or
stopped improving, each time with a population ``pop_growth`` times larger. The best candidate of
every restart is kept in ``ESState.best_theta``; train with ``keep="best"`` to keep the best epoch."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from hyperfunc_core.es.base import ESStrategy
from hyperfunc_core.es.layout import Layout
from hyperfunc_core.es.optimizers import OptimizerState
from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:
    from hyperfunc_core.es.strategy import ESConfig, ESState


@dataclass(frozen=True)
class Restarts(ESStrategy):
    """``strategy``: the one restarted; ``patience``: steps without a better best before a restart
    (None: only on convergence); ``pop_growth``: population factor per restart; ``min_improvement``."""

    strategy: ESStrategy
    max_restarts: int = 9
    patience: int | None = None
    pop_growth: float = 2.0
    min_improvement: float = 1e-12

    name = "restarts"

    def check(self, config: "ESConfig") -> None:
        if not isinstance(self.strategy, ESStrategy) or isinstance(self.strategy, Restarts):
            raise InvalidInput(
                f"Restarts.strategy: expected an ES strategy object (not Restarts), got {self.strategy!r}"
            )
        if isinstance(self.max_restarts, bool) or not isinstance(self.max_restarts, int) or self.max_restarts < 0:
            raise InvalidInput(f"Restarts.max_restarts: expected an integer >= 0, got {self.max_restarts!r}")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise InvalidInput(f"Restarts.patience: expected an integer >= 1 or None, got {self.patience!r}")
        if not isinstance(self.pop_growth, (int, float)) or self.pop_growth < 1:
            raise InvalidInput(f"Restarts.pop_growth: expected a number >= 1, got {self.pop_growth!r}")
        self.strategy.check(config)

    def population(self, config: "ESConfig", state: "ESState") -> int:
        return int(state.extra["pop_size"])

    def _inner(self, config: "ESConfig", state: "ESState") -> tuple["ESConfig", "ESState"]:
        return replace(config, pop_size=int(state.extra["pop_size"]), strategy=self.strategy), replace(
            state, extra=state.extra["inner"]
        )

    def init(self, config: "ESConfig", layout: Layout, theta0: torch.Tensor) -> dict[str, Any]:
        return {
            "inner": self.strategy.init(config, layout, theta0),
            "theta0": theta0.clone(),
            "pop_size": config.pop_size,
            "restarts": 0,
            "run_best": -math.inf,
            "stale": 0,
        }

    def ask(self, config: "ESConfig", layout: Layout, state: "ESState") -> tuple[torch.Tensor, torch.Tensor]:
        inner_config, inner_state = self._inner(config, state)
        return self.strategy.ask(inner_config, layout, inner_state)

    def tell(
        self, config: "ESConfig", layout: Layout, state: "ESState", noise: torch.Tensor, scores: torch.Tensor
    ) -> "ESState":
        e = state.extra
        inner_config, inner_state = self._inner(config, state)
        new = self.strategy.tell(inner_config, layout, inner_state, noise, scores)
        best = float(torch.nan_to_num(scores, nan=-math.inf).max())
        improved = best > e["run_best"] + self.min_improvement
        run_best, stale = (best, 0) if improved else (e["run_best"], e["stale"] + 1)
        stalled = self.patience is not None and stale >= self.patience
        if (self.strategy.converged(new) or stalled) and e["restarts"] < self.max_restarts:
            pop = 2 * math.ceil(e["pop_size"] * self.pop_growth / 2)
            theta0 = e["theta0"].clone()
            fresh = self.strategy.init(replace(inner_config, pop_size=pop), layout, theta0)
            extra = {**e, "inner": fresh, "pop_size": pop, "restarts": e["restarts"] + 1, "run_best": -math.inf}
            return replace(state, theta=theta0, opt=OptimizerState(), extra={**extra, "stale": 0})
        return replace(new, extra={**e, "inner": new.extra, "run_best": run_best, "stale": stale})

    def elite_count(self, population: int) -> int | None:
        return self.strategy.elite_count(population)

    def scale(self, config: "ESConfig", state: "ESState") -> float:
        inner_config, inner_state = self._inner(config, state)
        return self.strategy.scale(inner_config, inner_state)

    def converged(self, state: "ESState") -> bool:
        return state.extra["restarts"] >= self.max_restarts and self.strategy.converged(
            replace(state, extra=state.extra["inner"])
        )
