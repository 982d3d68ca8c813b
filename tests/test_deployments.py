"""Deployments: prefect.yaml validated, applied with ``hyperfunc deploy``, scheduled, and run by a worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.register import PREFECT_YAML, load_specs, schedule_objects, validate
from prefect_workers import process_worker, wait_for_state, worker_env

ROOT = Path(__file__).resolve().parents[1]
HYPERFUNC = str(Path(sys.executable).parent / "hyperfunc")


def test_every_deployment_has_a_loadable_flow_valid_parameters_and_a_schedule():
    specs = load_specs()
    assert {s.entrypoint for s in specs} == {"flows/jobs.py:sweep_job", "flows/jobs.py:training_job",
                                            "flows/jobs.py:evolution_job"}
    for spec in specs:
        bound = validate(spec)  # the flow loads and every parameter binds to its signature
        assert set(spec.parameters) <= set(bound) and spec.schedules and schedule_objects(spec), spec.name
        for value in spec.parameters.values():  # FILE:NAME targets and repositories exist in the project
            if isinstance(value, str) and value.startswith("examples/"):
                assert (ROOT / value.split(":")[0]).exists(), value
    bad = PREFECT_YAML.read_text().replace("max_trials: 20", "max_trials: many")
    broken = Path(os.environ["HYPERFUNC_HOME"]) / "broken.yaml"
    broken.write_text(bad)
    with pytest.raises(Exception, match="max_trials"):
        validate(next(s for s in load_specs(broken) if s.name == "nightly-branin-sweep"))


def test_hyperfunc_deploy_applies_them_with_their_schedules_and_a_trigger_schedules_a_run(tmp_path, prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    done = subprocess.run([HYPERFUNC, "deploy", "--pool", "deploy-test-pool"], capture_output=True, text=True,
                          env=worker_env(tmp_path) | {"COLUMNS": "200"}, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "scheduled-sweep/nightly-branin-sweep" in done.stdout and "cron 0 2 * * *" in done.stdout
    assert "every 21600 s" in done.stdout and "prefect worker start --pool deploy-test-pool" in done.stdout

    with get_client(sync_client=True) as client:
        sweep = client.read_deployment_by_name("scheduled-sweep/nightly-branin-sweep")
        assert sweep.work_pool_name == "deploy-test-pool" and sweep.parameters["study_name"] == "branin-scheduled"
        assert [s.schedule.cron for s in sweep.schedules] == ["0 2 * * *"] and sweep.schedules[0].active
        training = client.read_deployment_by_name("scheduled-training/affine-es-training")
        assert training.schedules[0].schedule.interval.total_seconds() == 21600
        evolution = client.read_deployment_by_name("scheduled-evolution/weekly-calculator-evolution")
        assert evolution.parameters["model"] == "offline"

    # A trigger (what the scheduler service of a real server does at each cron time) makes a scheduled run
    # that waits in the deployment's work pool for a worker.
    triggered = run_deployment("scheduled-training/affine-es-training", parameters={"steps": 10}, timeout=0)
    assert triggered.state.is_scheduled() and triggered.parameters == {**training.parameters, "steps": 10}
    with get_client(sync_client=True) as client:
        waiting = client.read_flow_run(triggered.id)
        assert waiting.state.is_scheduled() and waiting.work_pool_name == "deploy-test-pool"
        assert waiting.deployment_id == training.id


def test_a_worker_process_runs_a_deployment_to_completion(tmp_path, prefect_harness):
    from prefect.deployments import run_deployment

    from deployments.register import apply_deployments
    from hyperfunc_core.tuning.study_store import list_studies

    pool, log = "worker-test-pool", tmp_path / "worker.log"
    apply_deployments(["nightly-branin-sweep"], work_pool=pool, with_schedules=False)
    with process_worker(pool, worker_env(tmp_path), log):
        db = f"sqlite:///{tmp_path / 'sweep.db'}"
        run = run_deployment("scheduled-sweep/nightly-branin-sweep", timeout=0,
                             parameters={"strategy": "random", "max_trials": 3, "study_name": "worker-sweep",
                                         "storage": db, "seed": 3})
        state = wait_for_state(run.id, lambda s: s.is_final(), 240, log)
        assert state.is_completed(), f"{state}\n{log.read_text()[-4000:]}"
        (study,) = list_studies(db)
        assert study["name"] == "worker-sweep" and study["counts"] == {"complete": 3}
