"""ES as ask/tell over pure state: noise, shaping, update rules, reproducibility, best tracking."""

from __future__ import annotations

import math

import pytest
import torch

from hyperfunc_core.es import ESConfig, Layout, ask, init_state, tell
from hyperfunc_core.es.noise import sample_noise, step_generator
from hyperfunc_core.es.optimizers import sigma_at
from hyperfunc_core.es.shaping import centered_ranks


def test_centered_ranks_are_in_half_open_unit_range_with_ties_and_nans():
    r = centered_ranks(torch.tensor([3.0, 1.0, 2.0, float("nan"), 2.0]))
    assert r.min() == -0.5 and r.max() == 0.5
    assert r[2] == r[4] and r[3] == -0.5


def test_low_rank_noise_has_the_rank_and_unit_variance():
    layout = Layout.build({"w": (20, 30), "b": (7,)}, {"w": 2})
    eps = sample_noise(layout, 400, step_generator(0, 0))
    w = layout.unflatten(eps)["w"]
    assert torch.linalg.matrix_rank(w[0]) == 2
    assert abs(float(w.var()) - 1.0) < 0.1 and abs(float(layout.unflatten(eps)["b"].var()) - 1.0) < 0.15
    full = sample_noise(layout, 1, step_generator(0, 0), low_rank=False)
    assert torch.linalg.matrix_rank(layout.unflatten(full)["w"][0]) == 20


def test_antithetic_pairs_and_reproducible_asks():
    layout = Layout.build({"w": (3, 3)}, {"w": 1})
    config = ESConfig(pop_size=8, seed=3)
    state = init_state(config, layout, torch.zeros(9))
    c1, e1 = ask(config, layout, state)
    c2, e2 = ask(config, layout, state)
    assert torch.equal(c1, c2) and torch.equal(e1[:4], -e1[4:])


@pytest.mark.parametrize("optimizer", ["adam", "clipup", "sgd"])
def test_es_climbs_a_sphere_and_tracks_the_best(optimizer):
    target = torch.tensor([1.0, -2.0, 0.5, 3.0])
    layout = Layout.build({"x": (4,)})
    config = ESConfig(
        pop_size=32,
        sigma=0.3,
        lr=0.1 if optimizer != "sgd" else 0.05,
        optimizer=optimizer,
        sigma_schedule="exponential",
        sigma_decay=0.99,
        weight_decay=0.0,
        seed=1,
    )
    state = init_state(config, layout, torch.zeros(4))
    for _ in range(200):
        candidates, eps = ask(config, layout, state)
        scores = -((candidates - target) ** 2).sum(1)
        state = tell(config, layout, state, eps, scores, candidates)
    assert ((state.theta - target) ** 2).sum() < 0.1
    assert state.best_score > -1.0 and state.best_theta is not None and state.step == 200


def test_sigma_schedules_and_weight_decay():
    assert sigma_at(10, 1.0, "constant", 0.9, 0.01, 100) == 1.0
    assert sigma_at(10, 1.0, "exponential", 0.9, 0.01, 100) == pytest.approx(0.9**10)
    assert sigma_at(100, 1.0, "cosine", 0.9, 0.05, 100) == pytest.approx(0.05)
    layout = Layout.build({"x": (2,)})
    config = ESConfig(pop_size=4, weight_decay=0.5, optimizer="sgd", lr=0.1)
    state = init_state(config, layout, torch.tensor([4.0, -4.0]))
    _, eps = ask(config, layout, state)
    new = tell(config, layout, state, eps, torch.zeros(4))  # flat scores: only the decay moves θ
    assert torch.allclose(new.theta, state.theta * (1 - 0.05))


def test_bad_config_fails_naming_the_field():
    for kwargs, name in [
        ({"pop_size": 7}, "pop_size"),
        ({"sigma": 0}, "sigma"),
        ({"optimizer": "lion"}, "optimizer"),
        ({"sigma_schedule": "step"}, "sigma_schedule"),
        ({"steps": 0}, "steps"),
        ({"fitness_shaping": "raw"}, "fitness_shaping"),
    ]:
        with pytest.raises(ValueError, match=name):
            ESConfig(**kwargs)
    layout = Layout.build({"x": (2,)})
    state = init_state(ESConfig(pop_size=4), layout, torch.zeros(2))
    _, eps = ask(ESConfig(pop_size=4), layout, state)
    with pytest.raises(ValueError, match="scores"):
        tell(ESConfig(pop_size=4), layout, state, eps, torch.zeros(3))
    assert math.isinf(state.best_score)
