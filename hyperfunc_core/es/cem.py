"""The cross-entropy method: sample around the mean, refit mean and σ (per entry) to the elite."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from hyperfunc_core.es.base import DiagonalGaussian, best_first, check_positive
from hyperfunc_core.es.layout import Layout
from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:
    from hyperfunc_core.es.strategy import ESConfig, ESState


@dataclass(frozen=True, kw_only=True)
class CEM(DiagonalGaussian):
    """``elite_ratio``: the share of the population refitted to; ``sigma`` (None: ``ESConfig.sigma``);
    ``sigma_max_change``: bound on σ's relative change per step (None: unbounded); ``sigma_floor``."""

    elite_ratio: float = 0.25
    sigma_max_change: float | None = 0.2
    sigma_floor: float = 0.0

    name = "cem"

    def check(self, config: "ESConfig") -> None:
        super().check(config)
        check_positive("CEM", sigma_max_change=self.sigma_max_change)
        if not 0 < self.elite_ratio <= 1 or self.elites(config.pop_size) < 2:
            raise InvalidInput(
                f"CEM.elite_ratio: expected a share in (0, 1] leaving at least 2 elites of {config.pop_size}, "
                f"got {self.elite_ratio!r}"
            )

    def elites(self, population: int) -> int:
        return int(round(population * self.elite_ratio))

    def tell(
        self, config: "ESConfig", layout: Layout, state: "ESState", noise: torch.Tensor, scores: torch.Tensor
    ) -> "ESState":
        old = state.extra["sigma"]
        elite = (state.theta + old * noise)[best_first(scores)[: self.elites(noise.shape[0])].to(noise.device)]
        sigma = elite.std(0).clamp_min(self.sigma_floor)
        if self.sigma_max_change is not None:
            sigma = sigma.clamp(old * (1 - self.sigma_max_change), old * (1 + self.sigma_max_change))
        return replace(state, theta=elite.mean(0), extra={**state.extra, "sigma": sigma})

    def elite_count(self, population: int) -> int | None:
        return self.elites(population)
