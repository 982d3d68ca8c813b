"""XOR needs composition: a hidden layer then an output layer solve it, one linear layer cannot.

.venv/bin/hyperfunc train examples/es/xor.py:XORSystem
"""

import torch

from hyperfunc_core import ESHybridSystemOptimizer, Example, HyperSystem, TensorParam, hyperfunction

HIDDEN = 4
HiddenLayer = TensorParam.create(HIDDEN, 3, noise_rank=2)  # weights and bias: (hidden, 2 inputs + 1)
OutputLayer = TensorParam.create(1, HIDDEN + 1)
SingleLayer = TensorParam.create(1, 3)


def _affine(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x @ w[:, :-1].T + w[:, -1]


@hyperfunction(hp_type=HiddenLayer)
def hidden_layer(x: torch.Tensor, hp) -> torch.Tensor:
    return torch.tanh(_affine(x, hp.value))


@hyperfunction(hp_type=OutputLayer)
def output_layer(h: torch.Tensor, hp) -> torch.Tensor:
    return torch.sigmoid(_affine(h, hp.value)).squeeze(-1)


@hyperfunction(hp_type=SingleLayer)
def single_layer(x: torch.Tensor, hp) -> torch.Tensor:
    return torch.sigmoid(_affine(x, hp.value)).squeeze(-1)


def _optimizer() -> ESHybridSystemOptimizer:
    return ESHybridSystemOptimizer(steps=150, pop_size=64, sigma=0.5, lr=0.1, seed=0)


class XORSystem(HyperSystem):
    def __init__(self, **kw) -> None:
        kw.setdefault("system_optimizer", _optimizer())
        super().__init__(**kw)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        return output_layer(hidden_layer(x))


class SingleLayerSystem(HyperSystem):
    def __init__(self, **kw) -> None:
        kw.setdefault("system_optimizer", _optimizer())
        super().__init__(**kw)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        return single_layer(x)


TRAIN = [
    Example({"x": torch.tensor([a, b], dtype=torch.float32)}, torch.tensor(float(int(a) ^ int(b))))
    for a in (0.0, 1.0)
    for b in (0.0, 1.0)
]


def neg_bce(preds, expected) -> torch.Tensor:
    """Negative binary cross-entropy: ES maximises it."""
    p = preds.clamp(1e-6, 1 - 1e-6)
    return (expected * p.log() + (1 - expected) * (1 - p).log()).mean()


def accuracy(preds, expected) -> torch.Tensor:
    return ((preds > 0.5).float() == expected).float().mean()


METRIC = neg_bce
TRAIN_OPTIONS = {"run_name": "xor-demo"}
