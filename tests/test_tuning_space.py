"""Search spaces: validation before any trial, sampling, nesting, grids."""

from __future__ import annotations

import numpy as np
import pytest

from hyperfunc_core import Bool, Choice, Float, Int
from hyperfunc_core.tuning import Space, SpaceError


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"lr": Float(0.1, 0.1)}, "'lr': Float needs low < high"),
        ({"lr": Float(0.0, 1.0, log=True)}, "'lr': Float\\(log=True\\) needs low > 0"),
        ({"model": {"act": Choice([])}}, "'model.act': Choice needs at least one option"),
        ({"n": Int(1.5, 4)}, "'n': Int low must be an integer"),
        ({"f": object()}, "'f': unknown type object"),
        ({"nested": {}}, "'nested': a nested space must not be empty"),
        ({}, "space: expected a non-empty dict"),
        ({"epochs": 50}, "no searchable parameter"),
    ],
)
def test_invalid_spaces_fail_naming_the_parameter(spec, message):
    with pytest.raises(SpaceError, match=message):
        Space(spec)


def test_sampling_stays_in_bounds_and_log_scale_is_log():
    space = Space(
        {
            "lr": Float(1e-4, 1e-1, log=True),
            "n": Int(2, 8),
            "units": Int(64, 512, log=True),
            "opt": Choice(["adam", "sgd"]),
            "bn": Bool(),
        }
    )
    rng = np.random.default_rng(0)
    points = [space.sample(rng) for _ in range(2000)]
    lrs = np.array([p["lr"] for p in points])
    assert lrs.min() >= 1e-4 and lrs.max() <= 1e-1
    assert 0.2 < np.mean(lrs < 1e-2) / 0.6667 < 1.2  # log-uniform: two thirds of the mass below 1e-2
    assert {p["n"] for p in points} == set(range(2, 9))
    assert all(64 <= p["units"] <= 512 and isinstance(p["units"], int) for p in points)
    assert {p["opt"] for p in points} == {"adam", "sgd"} and {p["bn"] for p in points} == {True, False}


def test_nested_spaces_and_fixed_values_reach_the_objective_unchanged():
    space = Space(
        {
            "model": {"n_layers": Int(2, 5), "block": {"act": Choice(["relu", "tanh"])}},
            "training": {"lr": Float(0.001, 0.1, log=True), "batch_size": Choice([32, 64])},
            "epochs": 50,
        }
    )
    assert space.names == ["model.n_layers", "model.block.act", "training.lr", "training.batch_size"]
    nested = space.unflatten(space.sample(np.random.default_rng(1)))
    assert nested["epochs"] == 50 and set(nested["model"]) == {"n_layers", "block"}
    assert nested["model"]["block"]["act"] in ("relu", "tanh")
    assert space.flatten_params(nested) == {k: v for k, v in space.flatten_params(nested).items()}


def test_grid_needs_a_resolution_for_floats():
    assert len(Space({"a": Choice([1, 2, 3]), "b": Bool(), "c": Int(1, 3)}).grid()) == 18
    with pytest.raises(SpaceError, match="'lr'.*resolution"):
        Space({"lr": Float(0.1, 1.0)}).grid()
    assert len(Space({"lr": Float(0.1, 1.0)}).grid(resolution=4)) == 4


def test_clip_repairs_or_refuses_values():
    space = Space({"lr": Float(0.1, 1.0), "n": Int(1, 4), "opt": Choice(["Adam", "sgd"])})
    assert space.clip({"lr": 7, "n": 3.6, "opt": "adam"}) == {"lr": 1.0, "n": 4, "opt": "Adam"}
    with pytest.raises(ValueError, match="not one of"):
        space.clip({"lr": 0.5, "n": 1, "opt": "rmsprop"})
