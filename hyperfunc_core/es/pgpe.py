"""PGPE (Sehnke et al. 2010) with symmetric sampling and an adaptive σ per entry of θ, as EvoTorch runs it:
the centre follows an update rule (ClipUp by default), σ follows its own gradient, each step's change
of σ bounded by ``sigma_max_change``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch

from hyperfunc_core.es.base import DiagonalGaussian, check_positive, standard_normal
from hyperfunc_core.es.layout import Layout
from hyperfunc_core.es.optimizers import OPTIMIZERS
from hyperfunc_core.es.shaping import shape_fitness
from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:
    from hyperfunc_core.es.strategy import ESConfig, ESState


@dataclass(frozen=True, kw_only=True)
class PGPE(DiagonalGaussian):
    """``sigma``: initial σ (None: ``ESConfig.sigma``); ``center_lr`` (None: ``ESConfig.lr``); ``sigma_lr``;
    ``optimizer`` for the centre (``clipup``, ``adam`` or ``sgd``) with ``optimizer_kwargs``."""

    center_lr: float | None = None
    sigma_lr: float = 0.1
    sigma_max_change: float = 0.2
    optimizer: str = "clipup"
    optimizer_kwargs: dict = field(default_factory=dict)

    name = "pgpe"

    def check(self, config: "ESConfig") -> None:
        super().check(config)
        check_positive("PGPE", center_lr=self.center_lr, sigma_max_change=self.sigma_max_change)
        if self.sigma_lr < 0:
            raise InvalidInput(f"PGPE.sigma_lr: expected a number >= 0, got {self.sigma_lr!r}")
        if config.pop_size % 2:
            raise InvalidInput(
                f"pop_size: PGPE samples symmetric pairs and needs an even population, got {config.pop_size}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise InvalidInput(f"PGPE.optimizer: expected one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")

    def ask(self, config: "ESConfig", layout: Layout, state: "ESState") -> tuple[torch.Tensor, torch.Tensor]:
        eps = standard_normal(config, state, config.pop_size // 2, state.theta.numel()) * state.extra["sigma"]
        return torch.cat([state.theta + eps, state.theta - eps]), eps

    def tell(
        self, config: "ESConfig", layout: Layout, state: "ESState", noise: torch.Tensor, scores: torch.Tensor
    ) -> "ESState":
        half = noise.shape[0]
        f = shape_fitness(config.fitness_shaping, scores).to(noise.device)
        plus, minus = f[:half], f[half:]
        sigma = state.extra["sigma"]
        center_grad = ((plus - minus) / 2) @ noise / half
        sigma_grad = ((plus + minus) / 2 - f.mean()) @ ((noise**2 - sigma**2) / sigma) / half
        lr = self.center_lr or config.lr
        theta, opt = OPTIMIZERS[self.optimizer](state.theta, center_grad, state.opt, lr=lr, **self.optimizer_kwargs)
        bound = self.sigma_max_change * sigma
        sigma = sigma + (self.sigma_lr * sigma_grad).clamp(-bound, bound)
        return replace(state, theta=theta, opt=opt, extra={**state.extra, "sigma": sigma})
