"""Evolution Strategies as ask/tell over pure state (in the manner of evosax).

    state = init_state(config, layout, theta0)
    candidates, eps = ask(config, layout, state)        # (P, size) vectors
    state = tell(config, layout, state, eps, scores)    # scores: higher is better

``ESConfig`` is also exported under the seed's name ``ESHybridSystemOptimizer``: it is the
``system_optimizer`` a ``HyperSystem`` trains with.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import torch

from hyperfunc_core.es.layout import Layout
from hyperfunc_core.es.noise import sample_noise, step_generator
from hyperfunc_core.es.optimizers import OPTIMIZERS, OptimizerState, sigma_at
from hyperfunc_core.es.shaping import centered_ranks
from hyperfunc_core.validation import InvalidInput


@dataclass
class ESConfig:
    """How ES trains θ. ``steps`` is the default number of ES steps for ``optimize``."""

    steps: int = 100
    pop_size: int = 32
    sigma: float = 0.1
    lr: float = 0.05
    antithetic: bool = True
    optimizer: str = "adam"  # adam | clipup | sgd
    weight_decay: float = 0.0
    sigma_schedule: str = "constant"  # constant | exponential | cosine
    sigma_decay: float = 0.999
    sigma_min: float = 0.01
    low_rank_noise: bool = True  # EGGROLL-style noise for 2-D θ whose hp type sets noise_rank
    fitness_shaping: str = "centered_ranks"  # centered_ranks | standardize | none
    seed: int = 0
    max_batch_size: int = 65536  # (candidate, example) pairs per vmapped forward
    batch_size: int | None = None  # examples per step; None: all of them (one step per epoch)
    optimizer_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name}: expected an integer >= 1, got {value!r}")

        for name in ("steps", "pop_size", "max_batch_size"):
            positive_int(name)
        if self.batch_size is not None:
            positive_int("batch_size")
        for name in ("sigma", "lr"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
                raise InvalidInput(f"{name}: expected a positive number, got {value!r}")
        if self.antithetic and self.pop_size % 2:
            raise InvalidInput(f"pop_size: antithetic sampling needs an even population, got {self.pop_size}")
        if self.optimizer not in OPTIMIZERS:
            raise InvalidInput(f"optimizer: expected one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.fitness_shaping not in ("centered_ranks", "standardize", "none"):
            raise InvalidInput(
                f"fitness_shaping: expected 'centered_ranks', 'standardize' or 'none', got {self.fitness_shaping!r}"
            )
        if self.weight_decay < 0:
            raise InvalidInput(f"weight_decay: expected a number >= 0, got {self.weight_decay!r}")
        sigma_at(0, self.sigma, self.sigma_schedule, self.sigma_decay, self.sigma_min, self.steps)  # validates the name

    def as_dict(self) -> dict:
        return asdict(self)


ESHybridSystemOptimizer = ESConfig


@dataclass
class ESState:
    """Everything a resumed run needs: θ (flat), the optimiser's state, the step, the best seen."""

    theta: torch.Tensor
    opt: OptimizerState
    step: int = 0
    best_theta: torch.Tensor | None = None
    best_score: float = -math.inf

    def to_dict(self) -> dict:
        return {
            "theta": self.theta,
            "step": self.step,
            "best_theta": self.best_theta,
            "best_score": self.best_score,
            "opt": {"step": self.opt.step, "m": self.opt.m, "v": self.opt.v},
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ESState":
        o = d["opt"]
        return cls(d["theta"], OptimizerState(o["step"], o["m"], o["v"]), d["step"], d["best_theta"], d["best_score"])


def init_state(config: ESConfig, layout: Layout, theta0: torch.Tensor) -> ESState:
    if theta0.shape != (layout.size,):
        raise InvalidInput(f"theta0: expected shape ({layout.size},), got {tuple(theta0.shape)}")
    return ESState(theta=theta0.detach().clone().float(), opt=OptimizerState())


def ask(config: ESConfig, layout: Layout, state: ESState) -> tuple[torch.Tensor, torch.Tensor]:
    """The population for ``state.step``: (candidates (P, size), noise (P, size)), reproducible from the seed."""
    gen = step_generator(config.seed, state.step)
    half = config.pop_size // 2 if config.antithetic else config.pop_size
    eps = sample_noise(layout, half, gen, low_rank=config.low_rank_noise)
    if config.antithetic:
        eps = torch.cat([eps, -eps])  # pairs (i, i + P/2)
    eps = eps.to(state.theta.device)
    sigma = current_sigma(config, state)
    return state.theta.unsqueeze(0) + sigma * eps, eps


def current_sigma(config: ESConfig, state: ESState) -> float:
    return sigma_at(state.step, config.sigma, config.sigma_schedule, config.sigma_decay, config.sigma_min, config.steps)


def shape_fitness(config: ESConfig, scores: torch.Tensor) -> torch.Tensor:
    scores = scores.float()
    if config.fitness_shaping == "centered_ranks":
        return centered_ranks(scores)
    finite = torch.nan_to_num(scores, nan=-1e30, neginf=-1e30, posinf=1e30)
    if config.fitness_shaping == "standardize":
        return (finite - finite.mean()) / (finite.std() + 1e-8)
    return finite


def tell(
    config: ESConfig,
    layout: Layout,
    state: ESState,
    eps: torch.Tensor,
    scores: torch.Tensor,
    candidates: torch.Tensor | None = None,
) -> ESState:
    """One update from the population's scores (higher is better); tracks the best candidate seen."""
    scores = torch.as_tensor(scores, dtype=torch.float32).reshape(-1).cpu()
    if scores.numel() != eps.shape[0]:
        raise ValueError(f"scores: expected {eps.shape[0]} values, one per candidate, got {scores.numel()}")
    utilities = shape_fitness(config, scores).to(eps.device)
    sigma = current_sigma(config, state)
    grad = (utilities.unsqueeze(1) * eps).sum(0) / (eps.shape[0] * sigma)
    if config.weight_decay:
        grad = grad - config.weight_decay * state.theta
    rule = OPTIMIZERS[config.optimizer]
    theta, opt = rule(state.theta, grad, state.opt, lr=config.lr, **config.optimizer_kwargs)
    best_theta, best_score = state.best_theta, state.best_score
    finite = torch.nan_to_num(scores, nan=-math.inf)
    top = int(torch.argmax(finite))
    if candidates is not None and float(finite[top]) > best_score:
        best_theta, best_score = candidates[top].detach().clone(), float(finite[top])
    return replace(state, theta=theta, opt=opt, step=state.step + 1, best_theta=best_theta, best_score=best_score)
