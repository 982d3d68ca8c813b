"""Two composed 2x2 LoRA matrices learn "rotate by 45°, then scale by 2" with ES.

.venv/bin/hyperfunc train examples/es/affine.py:AffineSystem
"""

import math

import torch

from hyperfunc_core import ESHybridSystemOptimizer, Example, HyperSystem, LoRAWeight, hyperfunction

Matrix2x2 = LoRAWeight.create(out_dim=2, in_dim=2, noise_rank=2)


@hyperfunction(hp_type=Matrix2x2, optimize_hparams=True)
def transform_a(x: torch.Tensor, hp) -> torch.Tensor:
    """First linear map."""
    return x @ hp.weight.T


@hyperfunction(hp_type=Matrix2x2, optimize_hparams=True)
def transform_b(x: torch.Tensor, hp) -> torch.Tensor:
    """Second linear map, applied to the first one's output."""
    return x @ hp.weight.T


class AffineSystem(HyperSystem):
    def __init__(self, **kw) -> None:
        kw.setdefault(
            "system_optimizer", ESHybridSystemOptimizer(steps=100, pop_size=32, sigma=0.1, lr=0.1, antithetic=True)
        )
        super().__init__(**kw)
        self.register_hyperfunction(transform_a, hp_init=torch.eye(2))
        self.register_hyperfunction(transform_b, hp_init=torch.eye(2))

    def run(self, x: torch.Tensor) -> torch.Tensor:
        return transform_b(transform_a(x))


def rotation_scale_data(n_examples: int = 50, seed: int = 42) -> tuple[list[Example], torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    t = math.pi / 4
    target = torch.tensor([[2.0, 0.0], [0.0, 2.0]]) @ torch.tensor(
        [[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]
    )
    xs = torch.randn(n_examples, 2, generator=gen)
    return [Example({"x": x}, target @ x) for x in xs], target


def mse_metric(preds: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """Negative mean squared error (ES maximises); a tensor, so a whole population is scored in one vmapped call."""
    return -((preds - expected) ** 2).sum(-1).mean()


TRAIN, TARGET = rotation_scale_data()
VAL, _ = rotation_scale_data(20, seed=7)  # held out: the run's best epoch is chosen on it
METRIC = mse_metric
TRAIN_OPTIONS = {"run_name": "affine-demo"}
