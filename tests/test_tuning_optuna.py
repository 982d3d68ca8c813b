"""Optuna's samplers as strategies: by name or instance, through Optuna's ask/tell, inside our sweep,
stores and resume."""

from __future__ import annotations

import optuna
import pytest
from tuning_objectives import branin

from hyperfunc_core import Bool, Choice, Float, Int
from hyperfunc_core.launch import run_sweep
from hyperfunc_core.tuning.sweep import prepare_sweep

BRANIN = {"x1": Float(-5, 10), "x2": Float(0, 15)}  # minimum 0.398


@pytest.mark.parametrize("name", ["tpe", "gp", "cmaes", "nsgaii", "qmc", "random"])
def test_every_named_sampler_runs_a_sweep_and_the_model_based_ones_find_branins_basin(name):
    result = run_sweep(
        prepare_sweep(branin, BRANIN, strategy=f"optuna:{name}", max_trials=30, mode="min", seed=0),
        orchestrate=False,
    )
    assert result["counts"] == {"complete": 30}
    assert all(isinstance(t["info"]["optuna_trial"], int) for t in result["trials"])
    if name in ("tpe", "gp"):
        assert result["best"]["value"] < 1.5, result["best"]


def test_a_sampler_instance_searches_a_mixed_space_with_failures_concurrently_and_resumes(tmp_path):
    def objective(ctx, lr, layers, act, flag):
        if layers == 8:
            raise RuntimeError("too deep")  # a failed trial: told to Optuna as FAIL
        return (lr - 0.01) ** 2 + (layers - 3) ** 2 + (0 if act == ("relu", 1) else 1) + (0 if flag else 0.5)

    space = {
        "lr": Float(1e-4, 1.0, log=True),
        "layers": Int(1, 8),
        "act": Choice([("relu", 1), ("tanh", 2)]),  # options need not be scalars: Optuna sees their indices
        "flag": Bool(),
    }
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    sampler = optuna.samplers.TPESampler(seed=3)
    options = dict(mode="min", storage=url, study_name="mixed", max_concurrent=3)
    first = run_sweep(prepare_sweep(objective, space, strategy=sampler, max_trials=24, **options), orchestrate=False)
    assert len(first["trials"]) == 24 and first["best"]["params"]["act"] in (("relu", 1), ("tanh", 2), ["relu", 1])
    assert first["best"]["value"] < 1.0
    strategy = prepare_sweep(objective, space, strategy="optuna:tpe", max_trials=30, **options).setup.strategy
    states = [t.state for t in strategy.study.trials]  # a resumed study's trials, given to a fresh Optuna study
    assert len(states) == 24 and states.count(optuna.trial.TrialState.FAIL) == first["counts"].get("failed", 0)
    with pytest.raises(ValueError, match="unknown Optuna sampler 'optuna:bohb'; expected optuna:tpe"):
        prepare_sweep(objective, space, strategy="optuna:bohb")
