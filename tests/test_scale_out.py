"""Trials and ES candidates on Dask (an in-process cluster, and a scheduler with two worker processes on
loopback, as on real machines) give what the thread runner gives."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from hyperfunc_core import Float, Int, ObjectiveResult, tune
from hyperfunc_core.hyper.training import shards

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "es"))

import affine  # noqa: E402

pytestmark = pytest.mark.slow  # real worker processes, containers or clusters: minutes

pytest.importorskip("prefect_dask")


def objective(ctx, x: float, y: float) -> ObjectiveResult:
    ctx.report(step=0, distance=abs(x - 0.3))
    return ObjectiveResult(score=-((x - 0.3) ** 2) - (y - 0.7) ** 2, metrics={"x": x})


def test_a_sweep_on_dask_has_the_trials_and_results_of_the_thread_runner(tmp_path, prefect_harness):
    space = {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}
    seen = {}
    for runner in ("thread", "dask"):
        result = tune(
            objective,
            space,
            strategy="random",
            max_trials=8,
            max_concurrent=2,
            seed=5,
            task_runner=runner,
            storage=f"sqlite:///{tmp_path / runner}.db",
            study_name="scale-out",
        )
        assert result["counts"] == {"complete": 8}
        seen[runner] = sorted((t["number"], t["value"], tuple(sorted(t["params"].items()))) for t in result["trials"])
    assert seen["dask"] == seen["thread"]
    with pytest.raises(ValueError, match="task_runner: expected one of thread, dask"):
        tune(objective, space, task_runner="ray", max_trials=1)


def test_es_population_shards_on_dask_train_the_same_theta_as_on_threads(tmp_path, prefect_harness):
    results = {}
    for runner in ("thread", "dask"):
        system = affine.AffineSystem()
        results[runner] = system.optimize(
            affine.TRAIN,
            affine.mse_metric,
            run_name=f"shards-{runner}",
            steps=6,
            steps_per_epoch=3,
            population_shards=2,
            task_runner=runner,
            storage=f"sqlite:///{tmp_path / runner}.db",
        )
    for name in results["thread"]["theta"]:
        assert torch.equal(results["dask"]["theta"][name], results["thread"]["theta"][name]), name
    assert [m["train_score"] for m in results["dask"]["history"]] == [
        m["train_score"] for m in results["thread"]["history"]
    ]
    assert results["dask"]["train_score"] > affine.AffineSystem().evaluate(affine.TRAIN, affine.mse_metric)


@pytest.fixture
def dask_cluster(tmp_path):
    """A Dask scheduler and two worker processes on loopback, started from the command line as on
    real machines; the workers import the tests' modules from PYTHONPATH."""
    import os
    import socket
    import subprocess
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT / "examples" / "es"), str(ROOT)]),
        "TUNING_LOG": str(tmp_path / "evaluations.log"),  # where tuning_objectives.logged writes, on the workers
        "ES_METRIC_LOG": str(tmp_path / "metric.log"),
    }  # where es_deploy_target.METRIC writes
    dask = str(Path(sys.executable).parent / "dask")
    logs = [open(tmp_path / f"dask-{i}.log", "w") for i in range(3)]
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=env,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        )
    ]
    procs += [
        subprocess.Popen(
            [dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"],
            env=env,
            stdout=logs[i],
            stderr=subprocess.STDOUT,
        )
        for i in (1, 2)
    ]
    try:
        from distributed import Client

        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with Client(address, timeout=5) as client:
                    if len(client.scheduler_info()["workers"]) == 2:
                        break
            except OSError:
                pass
            time.sleep(1)
        else:
            raise AssertionError("dask cluster did not start: " + (tmp_path / "dask-0.log").read_text()[-2000:])
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


def test_a_sweep_runs_its_trials_on_a_dask_scheduler_and_two_worker_processes(
    tmp_path, prefect_harness, dask_cluster, monkeypatch
):
    from tuning_objectives import logged

    monkeypatch.setenv("HYPERFUNC_DASK_ADDRESS", dask_cluster)
    log = tmp_path / "evaluations.log"  # the workers' TUNING_LOG (dask_cluster)
    result = tune(
        logged,
        {"a": Int(0, 3), "b": Int(0, 3)},
        strategy="grid",
        max_concurrent=2,
        task_runner="dask",
        storage=f"sqlite:///{tmp_path / 'dask.db'}",
        study_name="on-dask",
    )
    assert result["counts"] == {"complete": 16}, result["trials"][0]["error"]
    evaluations = [line.split(",") for line in log.read_text().splitlines()]
    assert len(evaluations) == 16 and len({(a, b) for a, b, _ in evaluations}) == 16
    workers = {pid for _, _, pid in evaluations}
    import os

    assert len(workers) == 2 and str(os.getpid()) not in workers  # both worker processes ran trials, the flow none


def test_es_shards_run_on_dask_worker_processes_and_train_the_same_theta(
    tmp_path, prefect_harness, dask_cluster, monkeypatch
):
    import os

    import es_deploy_target as target  # its METRIC writes the pid of each process that calls it

    monkeypatch.setenv("ES_METRIC_LOG", str(tmp_path / "metric.log"))  # the workers' own (dask_cluster)
    results = {}
    for runner in ("thread", "dask"):
        if runner == "dask":
            monkeypatch.setenv("HYPERFUNC_DASK_ADDRESS", dask_cluster)
        results[runner] = target.AffineSystem().optimize(
            target.TRAIN,
            target.METRIC,
            run_name=f"cluster-{runner}",
            steps=4,
            steps_per_epoch=2,
            population_shards=2,
            task_runner=runner,
            storage=f"sqlite:///{tmp_path / runner}.db",
        )
    for name in results["thread"]["theta"]:
        assert torch.equal(results["dask"]["theta"][name], results["thread"]["theta"][name]), name
    callers = set((tmp_path / "metric.log").read_text().split())
    assert callers - {str(os.getpid())}, callers  # shards were scored in the worker processes


def test_shards_cover_the_population_in_order():
    assert shards(32, 2) == [slice(0, 16), slice(16, 32)]
    assert [s.stop - s.start for s in shards(10, 3)] == [3, 3, 4]
    with pytest.raises(ValueError, match="population_shards: expected at most pop_size"):
        affine.AffineSystem().optimize(
            affine.TRAIN, affine.mse_metric, orchestrate=False, population_shards=64, storage="sqlite://"
        )
