"""Batched population evaluation equals evaluating each candidate alone; the fallback says why."""

from __future__ import annotations

import logging
import math

import torch
from hyper_systems import MLPSystem, layer1, layer2, mlp_examples, neg_mse

from hyperfunc_core import Example, HyperSystem, TensorParam, hyperfunction


def perturbed(system, n, scale=0.3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    base = system.get_hp_state()
    return [{k: v + scale * torch.randn(v.shape, generator=gen) for k, v in base.items()} for _ in range(n)]


def looped(system, candidates, examples, metric):
    saved = system.get_hp_state()
    try:
        out = []
        for c in candidates:
            system.set_hp_state(c)
            out.append(system.evaluate(examples, metric))
        return out
    finally:
        system.set_hp_state(saved)


def test_population_scores_equal_each_candidate_alone_and_chunking_changes_nothing():
    system = MLPSystem()
    examples = mlp_examples(40)
    system.evaluate(examples[:1], neg_mse)  # registers layer1 and layer2
    candidates = perturbed(system, 16)
    batched = system.evaluate_population(candidates, examples, neg_mse)
    assert system.batched_refusal is None
    alone = looped(system, candidates, examples, neg_mse)
    assert torch.allclose(torch.tensor(batched), torch.tensor(alone), rtol=1e-5, atol=1e-6)
    for max_batch_size in (1, 7, 40, 100):  # chunks over candidates and, below 40, over examples too
        chunked = system.evaluate_population(candidates, examples, neg_mse, max_batch_size=max_batch_size)
        assert torch.allclose(torch.tensor(chunked), torch.tensor(batched), rtol=1e-5, atol=1e-6)
    flat = system.trainable_layout().flatten
    as_matrix = torch.stack([flat(c) for c in candidates])
    assert torch.allclose(torch.tensor(system.evaluate_population(as_matrix, examples, neg_mse)), torch.tensor(batched))


def test_the_batched_forward_is_one_call_per_hyperfunction():
    system = MLPSystem()
    examples = mlp_examples(10)
    system.evaluate(examples[:1], neg_mse, collect_trace=True)
    from hyperfunc_core.hyper import runtime

    calls = []
    original = layer1.fn

    def counting(x, hp):
        calls.append(tuple(x.shape))
        return original(x, hp=hp)

    layer1.fn = counting
    try:
        system.evaluate_population(perturbed(system, 8), examples, neg_mse)
    finally:
        layer1.fn = original
    assert len(calls) == 1 and calls[0] == (4,)  # traced once under vmap, on one example's shape
    assert runtime.active() is None


def test_a_python_loop_metric_gives_the_same_scores():
    system = MLPSystem()
    examples = mlp_examples(12)
    system.evaluate(examples[:1], neg_mse)

    def loop_metric(preds, expected):
        return -sum(((p - e) ** 2).mean().item() for p, e in zip(preds, expected)) / len(preds)

    candidates = perturbed(system, 4)
    a = system.evaluate_population(candidates, examples, loop_metric)
    b = system.evaluate_population(candidates, examples, neg_mse)
    assert torch.allclose(torch.tensor(a), torch.tensor(b), rtol=1e-5)


Gain = TensorParam.create(1)


@hyperfunction(hp_type=Gain)
def thresholded(x, hp):
    return x * hp.value[0] if float(x.sum()) > 0 else -x  # branches on a value: not vmappable


class Mixed(HyperSystem):
    def run(self, x):
        return thresholded(layer2(layer1(x)))


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_a_function_that_cannot_be_vmapped_falls_back_once_with_a_reason():
    system = Mixed()
    examples = mlp_examples(6)
    system.evaluate(examples[:1], neg_mse)
    candidates = perturbed(system, 5)
    handler, logger = Collect(), logging.getLogger("hyperfunc.hyper")
    logger.addHandler(handler)
    try:
        first = system.evaluate_population(candidates, examples, neg_mse)
        second = system.evaluate_population(candidates, examples, neg_mse)
    finally:
        logger.removeHandler(handler)
    assert first == second
    assert "'thresholded' cannot be vmapped" in system.batched_refusal
    warnings = [r for r in handler.records if "one by one" in r.getMessage()]
    assert len(warnings) == 1 and "thresholded" in warnings[0].getMessage()
    assert torch.allclose(torch.tensor(first), torch.tensor(looped(system, candidates, examples, neg_mse)))


def test_a_failing_candidate_scores_minus_inf_and_the_others_are_kept():
    @hyperfunction(hp_type=Gain)
    def fragile(x, hp):
        if float(hp.value[0]) < 0:
            raise ValueError("negative gain")
        return x * hp.value[0]

    class S(HyperSystem):
        def run(self, x):
            return fragile(x)

    s = S()
    s.register_hyperfunction(fragile, hp_init=torch.tensor([1.0]))
    data = [Example({"x": torch.tensor(1.0)}, torch.tensor(1.0))]
    errors = []
    scores = s.evaluate_population(
        [{"fragile": torch.tensor([1.0])}, {"fragile": torch.tensor([-1.0])}], data, neg_mse, errors=errors
    )
    assert scores[0] == 0.0 and scores[1] == -math.inf and "negative gain" in errors[1]
