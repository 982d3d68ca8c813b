"""The Bayesian search's model and acquisition: gradients, categories, exact integers, penalties, threads."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from hyperfunc_core import Bool, Choice, Float, Int
from hyperfunc_core.launch import run_sweep
from hyperfunc_core.tuning.space import Space
from hyperfunc_core.tuning.strategies import BayesianSearch
from hyperfunc_core.tuning.strategies.base import TrialRecord
from hyperfunc_core.tuning.strategies.bayesian import Encoding, log_ei_slopes, log_expected_improvement
from hyperfunc_core.tuning.strategies.gaussian_process import GaussianProcess
from hyperfunc_core.tuning.sweep import prepare_sweep


def fitted(seed: int = 0) -> tuple[GaussianProcess, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.random(25), rng.random(25), rng.integers(0, 3, 25)])
    y = np.sin(6 * x[:, 0]) + x[:, 1] ** 2 + 0.5 * (x[:, 2] == 1)
    gp = GaussianProcess(np.array([False, False, True]))
    gp.fit(x, (y - y.mean()) / y.std(), rng)
    return gp, x, y


def test_the_likelihood_gradient_is_exact():
    gp, x, y = fitted()
    squared = gp.differences(x, x)
    theta = np.array([math.log(0.3), math.log(0.7), math.log(1.2), 0.3, math.log(0.01)])
    analytic = gp._objective(theta, squared, y)[1]
    numeric = approx_fprime(theta, lambda t: gp._objective(t, squared, y)[0], 1e-6)
    assert np.allclose(analytic, numeric, rtol=1e-4, atol=1e-4)


def test_mean_deviation_and_log_ei_gradients_are_exact():
    gp, _, _ = fitted()
    point = np.array([0.31, 0.64, 2.0])
    mean, sd, dmean, dsd = gp.predict_with_gradient(point)
    assert np.allclose([mean, sd], [v[0] for v in gp.predict(point[None, :])])
    for j in range(2):
        moved = point.copy()
        moved[j] += 1e-6
        mean2, sd2 = (v[0] for v in gp.predict(moved[None, :]))
        assert dmean[j] == pytest.approx((mean2 - mean) / 1e-6, rel=1e-3, abs=1e-5)
        assert dsd[j] == pytest.approx((sd2 - sd) / 1e-6, rel=1e-3, abs=1e-5)
    assert dmean[2] == dsd[2] == 0.0  # a category has no gradient: it is searched option by option
    for z_mean in (0.5, -2.0, -9.0):  # both sides of the tail's switch at z = -6
        by_mean, by_sd = log_ei_slopes(z_mean, 0.7, 0.0)
        f = lambda m, s: float(log_expected_improvement(np.array([m]), np.array([s]), 0.0)[0])  # noqa: E731
        assert by_mean == pytest.approx((f(z_mean + 1e-7, 0.7) - f(z_mean, 0.7)) / 1e-7, rel=1e-3)
        assert by_sd == pytest.approx((f(z_mean, 0.7 + 1e-7) - f(z_mean, 0.7)) / 1e-7, rel=1e-3)


def test_categories_are_unordered_and_integers_exact():
    gp = GaussianProcess(np.array([True]))
    d = gp.differences(np.array([[0.0]]), np.array([[1.0], [2.0], [0.0]]))[0, :, 0]
    assert list(d) == [1.0, 1.0, 0.0]  # option 0 is as far from option 2 as from option 1
    space = Space({"n": Int(8, 512, log=True), "k": Int(1, 8), "opt": Choice(["sgd", "adam", "rmsprop"]), "bn": Bool()})
    encoding = Encoding(space)
    point = encoding.snap(np.array([0.4123, 0.77, 2.0, 1.0]))
    decoded = encoding.decode(point)
    assert np.allclose(encoding.encode(decoded), point)  # a snapped point is exactly an integer's position
    assert decoded["opt"] == "rmsprop" and decoded["bn"] is True
    moves = encoding.neighbours(point)
    assert len(moves) == 2 + 2 + 2 + 1  # n +-1, k +-1, two other options, the other bool
    assert {encoding.decode(m)["n"] for m in moves} == {decoded["n"] - 1, decoded["n"], decoded["n"] + 1}


def test_a_mixed_space_is_solved_exactly():
    costs = {"sgd": 1.0, "adam": 0.0, "rmsprop": 0.3, "adagrad": 0.6}

    def mixed(ctx, lr, units, layers, optimizer):
        return (math.log10(lr) + 3) ** 2 + (math.log2(units) - 6) ** 2 / 4 + (layers - 3) ** 2 / 4 + costs[optimizer]

    space = {
        "lr": Float(1e-5, 1e-1, log=True),
        "units": Int(8, 512, log=True),
        "layers": Int(1, 8),
        "optimizer": Choice(list(costs)),
    }
    result = run_sweep(
        prepare_sweep(mixed, space, strategy="bayesian", mode="min", max_trials=40, seed=0), orchestrate=False
    )
    best = result["best"]["params"]
    assert (best["units"], best["layers"], best["optimizer"]) == (64, 3, "adam") and result["best"]["value"] < 1e-3


def test_failed_and_infeasible_trials_are_penalised_and_running_ones_lie():
    strategy = BayesianSearch(Space({"x": Float(0, 1)}), mode="max", seed=0)

    def told(number, x, state="complete", value=None, **info):
        trial = TrialRecord(number, f"t{number}", {"x": x}, state=state, value=value, info=info)
        strategy.tell(trial)

    told(0, 0.1, value=1.0)
    told(1, 0.2, value=3.0)
    told(2, 0.9, state="failed")
    told(3, 0.8, value=9.0, feasible=False)
    strategy.started(TrialRecord(4, "t4", {"x": 0.5}))
    x, y = strategy._data(strategy.completed())
    assert list(np.round(x[:, 0], 3)) == [0.1, 0.2, 0.9, 0.8, 0.5] and list(y) == [1.0, 3.0, 1.0, 1.0, 1.0]


def test_the_model_runs_on_one_blas_thread_and_refits_less_often_as_trials_grow():
    from threadpoolctl import threadpool_info

    strategy = BayesianSearch(Space({"x": Float(0, 1), "y": Float(0, 1)}), mode="max", seed=0, n_startup=3)
    seen = []
    fit = strategy.gp.fit

    def watched(*args, **kwargs):
        seen.append({lib["num_threads"] for lib in threadpool_info()})
        return fit(*args, **kwargs)

    strategy.gp.fit = watched
    for number in range(5):
        suggestion = strategy.ask()
        strategy.tell(TrialRecord(number, f"t{number}", suggestion.params, "complete", value=suggestion.params["x"]))
    assert seen and all(threads <= {1} for threads in seen)
    refits = [strategy._refit_now(n) for n in (10, 50, 100, 100, 100, 400, 400, 400, 400, 400, 400, 400, 400)]
    assert refits == [True, True, False, True, False, False, False, False, False, False, False, True, False]
