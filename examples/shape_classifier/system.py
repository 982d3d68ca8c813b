"""A colour MLP and a shape classifier, composed and trained together with ES.

    .venv/bin/hyperfunc train examples/shape_classifier/system.py:ShapeClassifier

The images are generated (``data.py``); ``run`` gets the two pre-extracted features and
returns log-probabilities for 5 colours then 2 shapes. A prediction is right when both
the colour and the shape are.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import COLORS, SHAPES, dataset, features  # noqa: E402

from hyperfunc_core import ESHybridSystemOptimizer, Example, HyperSystem, TensorParam, hyperfunction  # noqa: E402

HIDDEN = 8
ColorMLPWeights = TensorParam.create(HIDDEN + len(COLORS), HIDDEN + 1, noise_rank=4)  # both layers, with biases
ShapeWeights = TensorParam.create(len(SHAPES), 2)


@hyperfunction(hp_type=ColorMLPWeights)
def classify_color(rgb: torch.Tensor, hp) -> torch.Tensor:
    """RGB (3) -> hidden (8, ReLU) -> 5 colour log-probabilities."""
    w = hp.value
    w1, b1 = w[:HIDDEN, :3], w[:HIDDEN, HIDDEN]
    w2, b2 = w[HIDDEN:, :HIDDEN], w[HIDDEN:, HIDDEN]
    hidden = torch.relu(rgb @ w1.T + b1)
    return torch.log_softmax(hidden @ w2.T + b2, dim=-1)


@hyperfunction(hp_type=ShapeWeights)
def classify_shape(fill: torch.Tensor, hp) -> torch.Tensor:
    """Fill ratio (1) -> 2 shape log-probabilities."""
    w = hp.value
    return torch.log_softmax(fill * 10.0 @ w[:, :1].T + w[:, 1], dim=-1)


class ShapeClassifier(HyperSystem):
    def __init__(self, **kw) -> None:
        kw.setdefault(
            "system_optimizer",
            ESHybridSystemOptimizer(
                steps=100,
                pop_size=64,
                sigma=0.3,
                lr=0.08,
                batch_size=64,
                seed=0,
                sigma_schedule="cosine",
                sigma_min=0.05,
            ),
        )
        super().__init__(**kw)

    def run(self, color: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        return torch.cat([classify_color(color), classify_shape(shape)])


def make_examples(n: int, seed: int) -> list[Example]:
    out = []
    for image, c, s in dataset(n, seed):
        rgb, fill = features(image)
        out.append(Example({"color": rgb, "shape": fill}, torch.tensor([c, s], dtype=torch.float32)))
    return out


def log_likelihood(preds: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """Mean log-probability of the right colour plus that of the right shape (ES maximises it)."""
    color, shape = expected[:, 0].long(), expected[:, 1].long() + len(COLORS)
    picked = torch.gather(preds, 1, torch.stack([color, shape], dim=1))
    return picked.sum(1).mean()


def accuracy(preds: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """Share of images whose colour and shape are both right."""
    color_ok = preds[:, : len(COLORS)].argmax(1) == expected[:, 0].long()
    shape_ok = preds[:, len(COLORS) :].argmax(1) == expected[:, 1].long()
    return (color_ok & shape_ok).float().mean()


TRAIN = make_examples(320, seed=1)
VAL = make_examples(200, seed=2)
METRIC = log_likelihood
TRAIN_OPTIONS = {"run_name": "shape-classifier-demo", "val": VAL}
