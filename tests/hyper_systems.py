"""Small systems the ES tests share."""

from __future__ import annotations

import torch

from hyperfunc_core import Example, HyperSystem, TensorParam, hyperfunction

HIDDEN = 16
Layer1 = TensorParam.create(HIDDEN, 5, noise_rank=2)  # 4 inputs + bias
Layer2 = TensorParam.create(3, HIDDEN + 1)


@hyperfunction(hp_type=Layer1)
def layer1(x: torch.Tensor, hp) -> torch.Tensor:
    w = hp.value
    return torch.tanh(x @ w[:, :-1].T + w[:, -1])


@hyperfunction(hp_type=Layer2)
def layer2(h: torch.Tensor, hp) -> torch.Tensor:
    w = hp.value
    return h @ w[:, :-1].T + w[:, -1]


class MLPSystem(HyperSystem):
    def run(self, x: torch.Tensor) -> torch.Tensor:
        return layer2(layer1(x))


def mlp_examples(n: int, seed: int = 0) -> list[Example]:
    gen = torch.Generator().manual_seed(seed)
    xs = torch.randn(n, 4, generator=gen)
    ys = torch.stack([xs[:, 0] * xs[:, 1], xs[:, 2].sin(), xs[:, 3] - xs[:, 0]], dim=1)
    return [Example({"x": x}, y) for x, y in zip(xs, ys)]


def neg_mse(preds, expected):
    return -((preds - expected) ** 2).mean()
