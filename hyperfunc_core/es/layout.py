"""θ of a whole system as one flat vector, and back: ES works on the vector, the system on named tensors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Block:
    name: str
    shape: tuple[int, ...]
    offset: int
    noise_rank: int | None

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Layout:
    blocks: tuple[Block, ...]

    @classmethod
    def build(cls, shapes: dict[str, tuple[int, ...]], noise_ranks: dict[str, int | None] | None = None) -> "Layout":
        blocks, offset = [], 0
        for name in sorted(shapes):
            shape = tuple(shapes[name])
            rank = (noise_ranks or {}).get(name)
            blocks.append(Block(name, shape, offset, rank if len(shape) == 2 else None))
            offset += math.prod(shape)
        return cls(tuple(blocks))

    @property
    def size(self) -> int:
        return sum(b.size for b in self.blocks)

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.blocks]

    def flatten(self, theta: dict[str, torch.Tensor]) -> torch.Tensor:
        missing = set(self.names) - set(theta)
        if missing:
            raise ValueError(f"theta: missing {sorted(missing)}")
        return torch.cat([theta[b.name].reshape(-1) for b in self.blocks])

    def unflatten(self, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named tensors from a (size,) vector or a (P, size) batch (then each is (P, *shape))."""
        lead = vector.shape[:-1]
        return {b.name: vector[..., b.offset : b.offset + b.size].reshape(*lead, *b.shape) for b in self.blocks}
