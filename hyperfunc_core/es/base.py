"""What every ES strategy is: a pure ask/tell over explicit state (in the manner of evosax).

A strategy object holds only hyperparameters. Everything that changes from step to step lives in
``ESState`` (the mean θ, the optimiser's moments, and the strategy's own tensors in
``state.extra``), so a checkpointed state resumes bit for bit, and the noise of step ``s`` is
drawn from ``(seed, s)`` on the CPU, then moved to θ's device, so a run draws the same
population on any device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from hyperfunc_core.es.layout import Layout
from hyperfunc_core.es.noise import step_generator
from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:
    from hyperfunc_core.es.strategy import ESConfig, ESState


@dataclass(frozen=True)
class ESStrategy:
    """Base of the ES strategies: ``init`` the extra state, ``ask`` a population, ``tell`` its scores."""

    name: ClassVar[str] = ""

    def check(self, config: "ESConfig") -> None:
        """Refuse a configuration this strategy cannot run (one line naming the field)."""
        if config.pop_size < 2:
            raise InvalidInput(f"pop_size: {self.name} needs at least 2 candidates, got {config.pop_size}")

    def population(self, config: "ESConfig", state: "ESState") -> int:
        return config.pop_size

    def init(self, config: "ESConfig", layout: Layout, theta0: torch.Tensor) -> dict[str, Any]:
        """The strategy's own state for a run starting at ``theta0``."""
        return {}

    def ask(self, config: "ESConfig", layout: Layout, state: "ESState") -> tuple[torch.Tensor, torch.Tensor]:
        """(candidates (P, size), what ``tell`` needs to learn from them), reproducible from the seed."""
        raise NotImplementedError

    def tell(
        self, config: "ESConfig", layout: Layout, state: "ESState", noise: torch.Tensor, scores: torch.Tensor
    ) -> "ESState":
        """The next state from the scores (higher is better) of the population ``ask`` gave."""
        raise NotImplementedError

    def elite_count(self, population: int) -> int | None:
        """How many of the best candidates the update uses (None: it uses every score). An
        evaluation may stop candidates that cannot reach these early (``MeanOverExamples``)."""
        return None

    def scale(self, config: "ESConfig", state: "ESState") -> float:
        """The search's current scale (its mean over θ's entries where it has one per entry), for the metrics."""
        return config.sigma_at(state.step)

    def converged(self, state: "ESState") -> bool:
        """True when the search has collapsed (what ``Restarts`` restarts on)."""
        return False

    def describe(self) -> dict[str, Any]:
        """Name and hyperparameters, JSON-ready: part of a run's fingerprint (resume refuses a change)."""
        return {"name": self.name, **{f.name: _plain(getattr(self, f.name)) for f in fields(self)}}


@dataclass(frozen=True, kw_only=True)
class DiagonalGaussian(ESStrategy):
    """A search distribution with θ as its mean and one σ per entry of θ (``state.extra["sigma"]``):
    what SNES, PGPE and CEM sample from. ``sigma``: the initial σ (None: ``ESConfig.sigma``)."""

    sigma: float | None = None
    tol_sigma: float = 1e-12  # converged when every σ falls below this

    def check(self, config: "ESConfig") -> None:
        super().check(config)
        check_positive(type(self).__name__, sigma=self.sigma, tol_sigma=self.tol_sigma)

    def init(self, config: "ESConfig", layout: Layout, theta0: torch.Tensor) -> dict[str, Any]:
        return {"sigma": torch.full_like(theta0, float(self.sigma or config.sigma))}

    def ask(self, config: "ESConfig", layout: Layout, state: "ESState") -> tuple[torch.Tensor, torch.Tensor]:
        z = standard_normal(config, state, config.pop_size, state.theta.numel())
        return state.theta + state.extra["sigma"] * z, z

    def scale(self, config: "ESConfig", state: "ESState") -> float:
        return float(state.extra["sigma"].mean())

    def converged(self, state: "ESState") -> bool:
        return float(state.extra["sigma"].max()) < self.tol_sigma


def _plain(value: Any) -> Any:
    return value.describe() if isinstance(value, ESStrategy) else value


def standard_normal(config: "ESConfig", state: "ESState", rows: int, size: int, dtype=torch.float32) -> torch.Tensor:
    """(rows, size) N(0, 1) draws for step ``state.step``, on θ's device."""
    gen = step_generator(config.seed, state.step)
    return torch.randn(rows, size, generator=gen, dtype=dtype).to(state.theta.device)


def best_first(scores: torch.Tensor) -> torch.Tensor:
    """Indices of the candidates from best to worst; NaN ranks with -inf, last; ties keep their order."""
    finite = torch.nan_to_num(scores.double(), nan=-math.inf)
    return torch.argsort(finite, descending=True, stable=True)


def check_positive(owner: str, **values: float | None) -> None:
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
            raise InvalidInput(f"{owner}.{name}: expected a positive number, got {value!r}")
