"""Metrics a population evaluation can reason about, not only call.

``MeanOverExamples`` is the mean of a bounded per-example score (accuracy, a clipped
log-likelihood, a reward in [0, 1]). Knowing that, an evaluation that only needs the top k
candidates (CMA-ES's μ, CEM's elite) scores the examples in stages and stops evaluating a
candidate as soon as even a perfect score on the examples left could not lift it into the
top k (``HyperSystem.evaluate_population(top_k=...)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from hyperfunc_core.validation import InvalidInput


@dataclass(frozen=True)
class MeanOverExamples:
    """``per_example(pred, expected) -> scalar tensor`` in ``[low, high]`` (higher is better); the
    metric is its mean over the examples, so it works wherever any ``metric_fn`` does."""

    per_example: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    low: float
    high: float

    def __post_init__(self) -> None:
        if not callable(self.per_example):
            raise InvalidInput(f"per_example: expected a function (pred, expected) -> score, got {self.per_example!r}")
        if not self.low < self.high:
            raise InvalidInput(f"low, high: expected low < high, got {self.low!r}, {self.high!r}")

    def __call__(self, preds: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
        return self.values(preds, expected).mean()

    def values(self, preds: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
        """Each example's score: (n,) from (n, ...) predictions and expected values."""
        return torch.vmap(self.per_example)(preds, expected)
