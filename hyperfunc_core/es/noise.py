"""Perturbations for a population: full Gaussian, or low-rank for 2-D blocks (EGGROLL-style).

A rank-r perturbation of an (m, n) matrix is A Bᵀ / sqrt(r) with A (m, r) and B (n, r)
standard normal: the same per-entry variance as full noise, drawn from (m + n) r numbers
instead of m n. Noise is a pure function of (seed, step), so a resumed run draws exactly
what an uninterrupted one would have.
"""

from __future__ import annotations

import math

import torch

from hyperfunc_core.es.layout import Layout


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    gen = torch.Generator(device="cpu")
    gen.manual_seed((int(seed) * 1_000_003 + int(step) * 7919 + 12345) % (2**63 - 1))
    return gen


def sample_noise(
    layout: Layout, n: int, gen: torch.Generator, low_rank: bool = True, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(n, layout.size) perturbations with unit per-entry variance, drawn on the CPU for reproducibility."""
    out = torch.empty(n, layout.size, dtype=dtype)
    for block in layout.blocks:
        if low_rank and block.noise_rank:
            m, k = block.shape
            r = block.noise_rank
            a = torch.randn(n, m, r, generator=gen, dtype=dtype)
            b = torch.randn(n, k, r, generator=gen, dtype=dtype)
            eps = (a @ b.transpose(1, 2)) / math.sqrt(r)
            out[:, block.offset : block.offset + block.size] = eps.reshape(n, -1)
        else:
            out[:, block.offset : block.offset + block.size] = torch.randn(n, block.size, generator=gen, dtype=dtype)
    return out
