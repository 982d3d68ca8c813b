"""SNES, separable natural evolution strategies (Schaul, Glasmachers & Schmidhuber 2011): a mean and
one σ per entry of θ, both moved along the natural gradient of ranked utilities."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from hyperfunc_core.es.base import ESStrategy, best_first, check_positive, standard_normal
from hyperfunc_core.es.layout import Layout

if TYPE_CHECKING:
    from hyperfunc_core.es.strategy import ESConfig, ESState


def nes_utilities(scores: torch.Tensor) -> torch.Tensor:
    """Wierstra et al.'s rank utilities: the better half weighted log-linearly, summing to zero."""
    lam = scores.numel()
    raw = (math.log(lam / 2 + 1) - torch.log(torch.arange(1, lam + 1, dtype=torch.float64))).clamp_min(0)
    ranked = raw / raw.sum() - 1 / lam
    out = torch.empty(lam, dtype=torch.float64)
    out[best_first(scores)] = ranked
    return out


@dataclass(frozen=True)
class SNES(ESStrategy):
    """``sigma``: the initial σ (None: ``ESConfig.sigma``); ``center_lr`` and ``sigma_lr`` (None: (3 + ln d) / (5 √d))."""

    sigma: float | None = None
    center_lr: float = 1.0
    sigma_lr: float | None = None
    tol_sigma: float = 1e-12

    name = "snes"

    def check(self, config: "ESConfig") -> None:
        super().check(config)
        check_positive("SNES", sigma=self.sigma, center_lr=self.center_lr, sigma_lr=self.sigma_lr)

    def init(self, config: "ESConfig", layout: Layout, theta0: torch.Tensor) -> dict[str, Any]:
        return {"sigma": torch.full_like(theta0, float(self.sigma or config.sigma))}

    def ask(self, config: "ESConfig", layout: Layout, state: "ESState") -> tuple[torch.Tensor, torch.Tensor]:
        s = standard_normal(config, state, config.pop_size, state.theta.numel())
        return state.theta + state.extra["sigma"] * s, s

    def tell(
        self, config: "ESConfig", layout: Layout, state: "ESState", noise: torch.Tensor, scores: torch.Tensor
    ) -> "ESState":
        d = state.theta.numel()
        u = nes_utilities(scores).float().to(noise.device)
        sigma = state.extra["sigma"]
        sigma_lr = self.sigma_lr or (3 + math.log(d)) / (5 * math.sqrt(d))
        theta = state.theta + self.center_lr * sigma * (u @ noise)
        sigma = sigma * torch.exp(sigma_lr / 2 * (u @ (noise**2 - 1)))
        return replace(state, theta=theta, extra={**state.extra, "sigma": sigma})

    def scale(self, config: "ESConfig", state: "ESState") -> float:
        return float(state.extra["sigma"].mean())

    def converged(self, state: "ESState") -> bool:
        return float(state.extra["sigma"].max()) < self.tol_sigma
