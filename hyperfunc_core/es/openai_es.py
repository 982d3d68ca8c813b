"""OpenAI-ES (Salimans et al. 2017): antithetic Gaussian noise, shaped fitness, an update rule on θ.

Its hyperparameters are ``ESConfig``'s own fields (``sigma``, ``lr``, ``optimizer``, ``antithetic``,
``low_rank_noise``, ``fitness_shaping``, ``weight_decay`` and the σ schedule): the strategy a
``HyperSystem`` trains with unless ``ESConfig.strategy`` names another.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from hyperfunc_core.es.base import ESStrategy
from hyperfunc_core.es.layout import Layout
from hyperfunc_core.es.noise import sample_noise, step_generator
from hyperfunc_core.es.optimizers import OPTIMIZERS
from hyperfunc_core.es.shaping import shape_fitness
from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:
    from hyperfunc_core.es.strategy import ESConfig, ESState


@dataclass(frozen=True)
class OpenAIES(ESStrategy):
    name = "openai_es"

    def check(self, config: "ESConfig") -> None:
        super().check(config)
        if config.antithetic and config.pop_size % 2:
            raise InvalidInput(f"pop_size: antithetic sampling needs an even population, got {config.pop_size}")

    def ask(self, config: "ESConfig", layout: Layout, state: "ESState") -> tuple[torch.Tensor, torch.Tensor]:
        gen = step_generator(config.seed, state.step)
        half = config.pop_size // 2 if config.antithetic else config.pop_size
        eps = sample_noise(layout, half, gen, low_rank=config.low_rank_noise)
        if config.antithetic:
            eps = torch.cat([eps, -eps])  # pairs (i, i + P/2)
        eps = eps.to(state.theta.device)
        return state.theta.unsqueeze(0) + config.sigma_at(state.step) * eps, eps

    def tell(
        self, config: "ESConfig", layout: Layout, state: "ESState", noise: torch.Tensor, scores: torch.Tensor
    ) -> "ESState":
        utilities = shape_fitness(config.fitness_shaping, scores).to(noise.device)
        sigma = config.sigma_at(state.step)
        grad = (utilities.unsqueeze(1) * noise).sum(0) / (noise.shape[0] * sigma)
        if config.weight_decay:
            grad = grad - config.weight_decay * state.theta
        theta, opt = OPTIMIZERS[config.optimizer](state.theta, grad, state.opt, lr=config.lr, **config.optimizer_kwargs)
        return replace(state, theta=theta, opt=opt)
