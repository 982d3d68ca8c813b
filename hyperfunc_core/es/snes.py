"""SNES, separable natural evolution strategies (Schaul, Glasmachers & Schmidhuber 2011): a mean and
one σ per entry of θ, both moved along the natural gradient of ranked utilities."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from hyperfunc_core.es.base import DiagonalGaussian, best_first, check_positive
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


@dataclass(frozen=True, kw_only=True)
class SNES(DiagonalGaussian):
    """``sigma``: the initial σ (None: ``ESConfig.sigma``); ``center_lr`` and ``sigma_lr`` (None: (3 + ln d) / (5 √d))."""

    center_lr: float = 1.0
    sigma_lr: float | None = None

    name = "snes"

    def check(self, config: "ESConfig") -> None:
        super().check(config)
        check_positive("SNES", center_lr=self.center_lr, sigma_lr=self.sigma_lr)

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
