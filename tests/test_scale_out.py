"""Trials and ES candidates on a local two-worker Dask cluster give what the thread runner gives."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from hyperfunc_core import Float, ObjectiveResult, tune
from hyperfunc_core.hyper.training import shards

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "es"))

import affine  # noqa: E402

pytest.importorskip("prefect_dask")


def objective(ctx, x: float, y: float) -> ObjectiveResult:
    ctx.report(step=0, distance=abs(x - 0.3))
    return ObjectiveResult(score=-(x - 0.3) ** 2 - (y - 0.7) ** 2, metrics={"x": x})


def test_a_sweep_on_dask_has_the_trials_and_results_of_the_thread_runner(tmp_path, prefect_harness):
    space = {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}
    seen = {}
    for runner in ("thread", "dask"):
        result = tune(objective, space, strategy="random", max_trials=8, max_concurrent=2, seed=5, task_runner=runner,
                      storage=f"sqlite:///{tmp_path / runner}.db", study_name="scale-out")
        assert result["counts"] == {"complete": 8}
        seen[runner] = sorted((t["number"], t["value"], tuple(sorted(t["params"].items()))) for t in result["trials"])
    assert seen["dask"] == seen["thread"]
    with pytest.raises(ValueError, match="task_runner: expected one of thread, dask"):
        tune(objective, space, task_runner="ray", max_trials=1)


def test_es_population_shards_on_dask_train_the_same_theta_as_on_threads(tmp_path, prefect_harness):
    results = {}
    for runner in ("thread", "dask"):
        system = affine.AffineSystem()
        results[runner] = system.optimize(affine.TRAIN, affine.mse_metric, run_name=f"shards-{runner}", steps=6,
                                          steps_per_epoch=3, population_shards=2, task_runner=runner,
                                          storage=f"sqlite:///{tmp_path / runner}.db")
    for name in results["thread"]["theta"]:
        assert torch.equal(results["dask"]["theta"][name], results["thread"]["theta"][name]), name
    assert [m["train_score"] for m in results["dask"]["history"]] == [m["train_score"] for m in results["thread"]["history"]]
    assert results["dask"]["train_score"] > affine.AffineSystem().evaluate(affine.TRAIN, affine.mse_metric)


def test_shards_cover_the_population_in_order():
    assert shards(32, 2) == [slice(0, 16), slice(16, 32)]
    assert [s.stop - s.start for s in shards(10, 3)] == [3, 3, 4]
    with pytest.raises(ValueError, match="population_shards: expected at most pop_size"):
        affine.AffineSystem().optimize(affine.TRAIN, affine.mse_metric, orchestrate=False, population_shards=64,
                                       storage="sqlite://")
