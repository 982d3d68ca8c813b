"""Images for the shape classifier: coloured circles and squares on a noisy background,
generated from a seed, and the two features the classifiers read.

- colour: the mean RGB of the shape's pixels (3 numbers);
- shape: how much of its bounding box the shape fills, minus 0.9 (a square fills ~1.0,
  a circle ~π/4), as one number.
"""

from __future__ import annotations

import numpy as np
import torch

COLORS = {
    "red": (0.9, 0.1, 0.1),
    "green": (0.1, 0.8, 0.2),
    "blue": (0.15, 0.2, 0.9),
    "yellow": (0.9, 0.85, 0.1),
    "purple": (0.6, 0.15, 0.75),
}
SHAPES = ("circle", "square")
SIZE = 32


def draw(shape: str, color: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """One (SIZE, SIZE, 3) image in [0, 1]."""
    image = rng.uniform(0.0, 0.12, size=(SIZE, SIZE, 3))
    r = int(rng.integers(5, 11))
    cy, cx = (int(v) for v in rng.integers(r + 1, SIZE - r - 1, size=2))
    yy, xx = np.mgrid[:SIZE, :SIZE]
    mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r if shape == "circle" else (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
    jitter = rng.normal(0.0, 0.04, size=3)
    image[mask] = np.clip(np.array(color) + jitter + rng.normal(0.0, 0.03, size=(mask.sum(), 3)), 0.0, 1.0)
    return image


def features(image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(colour (3,), shape (1,)) features of one image."""
    mask = image.max(axis=-1) > 0.3
    if not mask.any():
        return torch.zeros(3), torch.zeros(1)
    ys, xs = np.nonzero(mask)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    fill = mask.sum() / box
    return torch.tensor(image[mask].mean(axis=0), dtype=torch.float32), torch.tensor([fill - 0.9], dtype=torch.float32)


def dataset(n: int, seed: int) -> list[tuple[np.ndarray, int, int]]:
    """``n`` (image, colour index, shape index) triples, balanced over the 10 classes."""
    rng = np.random.default_rng(seed)
    names = list(COLORS)
    out = []
    for i in range(n):
        c, s = i % len(names), (i // len(names)) % len(SHAPES)
        out.append((draw(SHAPES[s], COLORS[names[c]], rng), c, s))
    order = rng.permutation(n)
    return [out[i] for i in order]
