"""Fitness shaping: scores to utilities that ES can average without outliers dominating."""

from __future__ import annotations

import torch

SHAPINGS = ("centered_ranks", "standardize", "none")


def centered_ranks(scores: torch.Tensor) -> torch.Tensor:
    """Ranks mapped to [-0.5, 0.5], ties sharing their mean rank; NaN and -inf rank lowest."""
    x = torch.nan_to_num(scores.double(), nan=float("-inf"))
    n = x.numel()
    if n == 1:
        return torch.zeros(1, dtype=scores.dtype if scores.is_floating_point() else torch.float32)
    order = torch.argsort(x, stable=True)
    ranks = torch.empty(n, dtype=torch.double)
    ranks[order] = torch.arange(n, dtype=torch.double)
    for value in torch.unique(x):  # ties: the mean of their ranks
        tied = x == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return (ranks / (n - 1) - 0.5).to(torch.float32)


def shape_fitness(shaping: str, scores: torch.Tensor) -> torch.Tensor:
    """Utilities from scores (higher is better): ``centered_ranks``, ``standardize`` or ``none``."""
    scores = scores.float().cpu()
    if shaping == "centered_ranks":
        return centered_ranks(scores)
    finite = torch.nan_to_num(scores, nan=-1e30, neginf=-1e30, posinf=1e30)
    if shaping == "standardize":
        return (finite - finite.mean()) / (finite.std() + 1e-8)
    return finite
