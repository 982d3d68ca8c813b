"""Evolution Strategies as ask/tell over pure state (in the manner of evosax).

    state = init_state(config, layout, theta0)
    candidates, noise = ask(config, layout, state)        # (P, size) vectors
    state = tell(config, layout, state, noise, scores)    # scores: higher is better

``ESConfig`` is also exported under the seed's name ``ESHybridSystemOptimizer``: it is the
``system_optimizer`` a ``HyperSystem`` trains with. Its ``strategy`` picks the algorithm:
OpenAI-ES by default, or a strategy object (``CMAES``, ``SNES``, ``PGPE``, ``CEM``, ``Restarts``)
or its name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch

from hyperfunc_core.devices import on_device
from hyperfunc_core.es.base import ESStrategy
from hyperfunc_core.es.layout import Layout
from hyperfunc_core.es.optimizers import OPTIMIZERS, OptimizerState, sigma_at
from hyperfunc_core.es.shaping import SHAPINGS
from hyperfunc_core.validation import InvalidInput

EXECUTION_MODES = ("auto", "batched", "loop")


def check_execution(mode: Any) -> str:
    """``mode`` when it names how a population runs (hyper/execution.py), else one line saying what would."""
    if mode not in EXECUTION_MODES:
        raise InvalidInput(f"execution: expected one of {list(EXECUTION_MODES)}, got {mode!r}")
    return mode


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
    # The algorithm: None (OpenAI-ES from the fields above), a strategy object, or its name
    # ("openai_es", "cma_es", "sep_cma_es", "snes", "pgpe", "cem").
    strategy: Any = None
    # How a population runs: "auto" (chunk size and threads measured per workload), "batched"
    # (the biggest chunks max_batch_size allows) or "loop" (one candidate at a time); hyper/execution.py.
    execution: str = "auto"

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
        if self.optimizer not in OPTIMIZERS:
            raise InvalidInput(f"optimizer: expected one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.fitness_shaping not in SHAPINGS:
            raise InvalidInput(f"fitness_shaping: expected one of {list(SHAPINGS)}, got {self.fitness_shaping!r}")
        if self.weight_decay < 0:
            raise InvalidInput(f"weight_decay: expected a number >= 0, got {self.weight_decay!r}")
        check_execution(self.execution)
        self.sigma_at(0)  # validates the schedule's name
        self.algorithm.check(self)

    @property
    def algorithm(self) -> ESStrategy:
        """The strategy object ``strategy`` names (OpenAI-ES when it is None)."""
        from hyperfunc_core.es.strategies import resolve

        return resolve(self.strategy)

    def sigma_at(self, step: int) -> float:
        """OpenAI-ES's noise scale at ``step`` under the σ schedule."""
        return sigma_at(step, self.sigma, self.sigma_schedule, self.sigma_decay, self.sigma_min, self.steps)

    def as_dict(self) -> dict:
        """JSON-ready: the run's fingerprint (the strategy by name and hyperparameters)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["strategy"] = self.algorithm.describe()
        return out


ESHybridSystemOptimizer = ESConfig


@dataclass
class ESState:
    """Everything a resumed run needs: θ (flat; the search's mean), the optimiser's state, the
    strategy's own state (``extra``), the step, and the best candidate seen."""

    theta: torch.Tensor
    opt: OptimizerState
    step: int = 0
    best_theta: torch.Tensor | None = None
    best_score: float = -math.inf
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "theta": self.theta,
            "step": self.step,
            "best_theta": self.best_theta,
            "best_score": self.best_score,
            "opt": {"step": self.opt.step, "m": self.opt.m, "v": self.opt.v},
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ESState":
        o = d["opt"]
        return cls(
            d["theta"],
            OptimizerState(o["step"], o["m"], o["v"]),
            d["step"],
            d["best_theta"],
            d["best_score"],
            d.get("extra", {}),
        )

    def to(self, device: torch.device | str) -> "ESState":
        """The same state with every tensor on ``device``."""
        return ESState.from_dict(on_device(self.to_dict(), device))


def init_state(config: ESConfig, layout: Layout, theta0: torch.Tensor) -> ESState:
    if theta0.shape != (layout.size,):
        raise InvalidInput(f"theta0: expected shape ({layout.size},), got {tuple(theta0.shape)}")
    theta = theta0.detach().clone().float()
    return ESState(theta=theta, opt=OptimizerState(), extra=config.algorithm.init(config, layout, theta))


def ask(config: ESConfig, layout: Layout, state: ESState) -> tuple[torch.Tensor, torch.Tensor]:
    """The population for ``state.step``: (candidates (P, size), what ``tell`` needs), reproducible from the seed."""
    return config.algorithm.ask(config, layout, state)


def current_sigma(config: ESConfig, state: ESState) -> float:
    return config.algorithm.scale(config, state)


def tell(
    config: ESConfig,
    layout: Layout,
    state: ESState,
    noise: torch.Tensor,
    scores: torch.Tensor,
    candidates: torch.Tensor | None = None,
) -> ESState:
    """One update from the population's scores (higher is better); tracks the best candidate seen."""
    scores = torch.as_tensor(scores, dtype=torch.float32).reshape(-1).cpu()
    population = config.algorithm.population(config, state)
    if scores.numel() != population:
        raise ValueError(f"scores: expected {population} values, one per candidate, got {scores.numel()}")
    new = config.algorithm.tell(config, layout, state, noise, scores)
    best_theta, best_score = state.best_theta, state.best_score
    finite = torch.nan_to_num(scores, nan=-math.inf)
    top = int(torch.argmax(finite))
    if candidates is not None and float(finite[top]) > best_score:
        best_theta, best_score = candidates[top].detach().clone(), float(finite[top])
    return replace(new, step=state.step + 1, best_theta=best_theta, best_score=best_score)
