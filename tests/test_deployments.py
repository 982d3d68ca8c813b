"""Deployments: prefect.yaml validated, applied with ``hyperfunc deploy``, scheduled, and run by a worker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect_workers import process_worker, retried_run_ends, retry_through_the_api, wait_for_state, worker_env

from deployments.register import PREFECT_YAML, load_specs, schedule_objects, validate

pytestmark = pytest.mark.slow  # real worker processes, containers or clusters: minutes

ROOT = Path(__file__).resolve().parents[1]
HYPERFUNC = str(Path(sys.executable).parent / "hyperfunc")


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_every_deployment_has_a_loadable_flow_valid_parameters_and_a_schedule():
    specs = load_specs()
    assert {s.entrypoint for s in specs} == {
        "flows/tuning.py:tune_flow",
        "flows/training.py:train_flow",
        "flows/evolution.py:evolution_flow",
    }  # the engines' own flows
    for spec in specs:
        bound = validate(spec)  # the flow loads and every parameter binds to its signature
        assert set(spec.parameters) <= set(bound) and spec.schedules and schedule_objects(spec), spec.name
        for value in _strings(spec.parameters):  # FILE:NAME targets and repositories exist in the project
            if value.startswith("examples/"):
                assert (ROOT / value.split(":")[0]).exists(), value
    bad = PREFECT_YAML.read_text().replace("add_trials: 10", "add_trials: many")
    broken = Path(os.environ["HYPERFUNC_HOME"]) / "broken.yaml"
    broken.write_text(bad)
    with pytest.raises(Exception, match="add_trials"):
        validate(next(s for s in load_specs(broken) if s.name == "nightly-branin-sweep"))


def test_hyperfunc_deploy_applies_them_with_their_schedules_and_a_trigger_schedules_a_run(tmp_path, prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    done = subprocess.run(
        [HYPERFUNC, "deploy", "--pool", "deploy-test-pool"],
        capture_output=True,
        text=True,
        env=worker_env(tmp_path) | {"COLUMNS": "200"},
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tune/nightly-branin-sweep" in done.stdout and "cron 0 2 * * *" in done.stdout
    assert "every 21600 s" in done.stdout and "prefect worker start --pool deploy-test-pool" in done.stdout

    with get_client(sync_client=True) as client:
        sweep = client.read_deployment_by_name("tune/nightly-branin-sweep")
        assert sweep.work_pool_name == "deploy-test-pool" and sweep.parameters["study"] == "branin-nightly"
        assert sweep.parameters["spec"]["objective"] == "examples/tuning/branin.py:objective"
        assert [s.schedule.cron for s in sweep.schedules] == ["0 2 * * *"] and sweep.schedules[0].active
        # a flow run works in the project folder itself; with a path and no pull step, each run copied it whole
        assert sweep.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
        assert sweep.path is None
        training = client.read_deployment_by_name("es-train/affine-es-training")
        assert training.schedules[0].schedule.interval.total_seconds() == 21600
        evolution = client.read_deployment_by_name("evolution/weekly-calculator-evolution")
        assert evolution.parameters["spec"]["model"] == "offline"

    # A trigger (what the scheduler service of a real server does at each cron time) makes a scheduled run
    # that waits in the deployment's work pool for a worker.
    triggered = run_deployment("es-train/affine-es-training", parameters={"add_steps": 5}, timeout=0)
    assert triggered.state.is_scheduled() and triggered.parameters == {**training.parameters, "add_steps": 5}
    with get_client(sync_client=True) as client:
        waiting = client.read_flow_run(triggered.id)
        assert waiting.state.is_scheduled() and waiting.work_pool_name == "deploy-test-pool"
        assert waiting.deployment_id == training.id


def _trials(url: str) -> list:
    from sqlmodel import select

    from hyperfunc_core.storage import Trial, session_scope

    with session_scope(url) as s:
        return list(s.exec(select(Trial).order_by(Trial.number)).all())


def _logged_lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_a_sweep_killed_mid_run_is_retried_through_the_api_without_repeating_a_trial(tmp_path, prefect_harness):
    """A worker runs the tune deployment; its flow-run process is killed with SIGKILL mid-sweep; the
    flow run is retried through Prefect's API (as the UI's Retry does), a worker runs it again from the
    study's stored spec, and no finished trial is evaluated twice. A second run of the deployment adds work."""
    from prefect.deployments import run_deployment

    from deployments.register import apply_deployments
    from hyperfunc_core.tuning.study_store import list_studies

    pool, log, evaluations = "retry-test-pool", tmp_path / "worker.log", tmp_path / "evaluations.log"
    db = f"sqlite:///{tmp_path / 'sweep.db'}"
    spec = {
        "objective": f"{ROOT / 'tests' / 'tuning_objectives.py'}:logged",
        "space": {
            "params": {
                "a": {"type": "int", "low": 0, "high": 99, "log": False},
                "b": {"type": "int", "low": 0, "high": 99, "log": False},
            },
            "fixed": {},
        },
        "options": {"strategy": "random", "max_trials": 8, "seed": 1},
    }
    apply_deployments(["nightly-branin-sweep"], work_pool=pool, with_schedules=False)
    env = worker_env(tmp_path, TUNING_LOG=str(evaluations), TRIAL_SLEEP="0.5")
    with process_worker(pool, env, log):
        run = run_deployment(
            "tune/nightly-branin-sweep",
            timeout=0,
            parameters={"study": "killed", "storage": db, "spec": spec, "add_trials": None},
        )
        deadline = time.time() + 180
        while len(_logged_lines(evaluations)) < 3 and time.time() < deadline:
            time.sleep(0.2)
        lines = _logged_lines(evaluations)
        assert len(lines) >= 3, log.read_text()[-4000:]
        os.kill(int(lines[0].split(",")[2]), signal.SIGKILL)  # the flow-run process, mid-sweep
        crashed = wait_for_state(run.id, lambda s: s.is_final(), 120, log)
        assert crashed.is_crashed(), crashed
    (study,) = list_studies(db)
    finished_before = study["counts"].get("complete", 0)
    assert 0 < finished_before < 8

    retry_through_the_api(run.id)
    with process_worker(pool, env, tmp_path / "worker2.log") as _:  # another worker process picks it up
        log = tmp_path / "worker2.log"
        state = retried_run_ends(run.id, 240, log)
        assert state.is_completed(), f"{state}\n{log.read_text()[-4000:]}"
        assert "8 complete" in state.message, state.message

        (study,) = list_studies(db)
        assert study["counts"].get("complete") == 8
        points = [tuple(int(v) for v in line.split(",")[:2]) for line in _logged_lines(evaluations)]
        trials = _trials(db)
        finished = [t for t in trials if t.state == "complete"]
        cut_short = [t for t in trials if t.state == "interrupted"]
        # every evaluation is a trial of the study: each finished trial's point ran exactly once, and a
        # trial the kill cut short (interrupted, not counted) may run again as a new trial
        assert len(points) == len(finished) + len(cut_short) == 8 + len(cut_short), points
        for t in finished:
            again = sum(c.params == t.params for c in cut_short)
            assert points.count((t.params["a"], t.params["b"])) == 1 + again, (t.params, points)

        # A new run of the deployment with add_trials (what each schedule tick does) adds that many trials.
        again = run_deployment(
            "tune/nightly-branin-sweep", timeout=0, parameters={"study": "killed", "storage": db, "add_trials": 3}
        )
        state = wait_for_state(again.id, lambda s: s.is_final(), 240, log)
        assert state.is_completed(), f"{state}\n{log.read_text()[-4000:]}"
        (study,) = list_studies(db)
        assert study["counts"].get("complete") == 11
        assert len(_logged_lines(evaluations)) == 11 + study["counts"].get("interrupted", 0)


def test_an_es_run_killed_mid_epoch_is_retried_through_the_api_from_its_last_checkpoint(tmp_path, prefect_harness):
    """SIGKILL mid-epoch, retry through the API, another worker finishes from the last checkpoint: the
    finished epochs' checkpoints are not written again. Then a second run adds steps (a schedule tick)."""
    from prefect.deployments import run_deployment
    from sqlmodel import select

    from deployments.register import apply_deployments
    from hyperfunc_core.storage import ESEpoch, ESRun, session_scope

    pool, log, calls = "es-retry-pool", tmp_path / "worker.log", tmp_path / "metric.log"
    db = f"sqlite:///{tmp_path / 'es.db'}"
    spec = {
        "system": f"{ROOT / 'tests' / 'es_deploy_target.py'}:AffineSystem",
        "options": {"steps": 40, "steps_per_epoch": 10},
    }
    apply_deployments(["affine-es-training"], work_pool=pool, with_schedules=False)
    env = worker_env(tmp_path, ES_METRIC_LOG=str(calls), ES_METRIC_SLEEP="0.05")

    def epochs() -> dict[int, int]:
        with session_scope(db) as s:
            run = s.exec(select(ESRun).where(ESRun.name == "killed-es")).first()
            rows = s.exec(select(ESEpoch).where(ESEpoch.run_id == run.id)).all() if run else []
            return {r.epoch: r.metrics["steps"] for r in rows}

    with process_worker(pool, env, log):
        run = run_deployment(
            "es-train/affine-es-training",
            timeout=0,
            parameters={"run_name": "killed-es", "storage": db, "spec": spec, "add_steps": None},
        )
        deadline = time.time() + 180
        while len(epochs()) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert len(epochs()) >= 2, log.read_text()[-4000:]
        os.kill(int(_logged_lines(calls)[-1]), signal.SIGKILL)  # the flow-run process, mid-epoch
        assert wait_for_state(run.id, lambda s: s.is_final(), 120, log).is_crashed()
    done = epochs()
    assert len(done) < 4
    checkpoints = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "home").rglob("epoch-*.pt")}
    assert len(checkpoints) == len(done)

    retry_through_the_api(run.id)
    log = tmp_path / "worker2.log"
    with process_worker(pool, env, log):
        state = retried_run_ends(run.id, 240, log)
        assert state.is_completed(), f"{state}\n{log.read_text()[-4000:]}"
        assert epochs() == {0: 10, 1: 20, 2: 30, 3: 40}
        after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "home").rglob("epoch-*.pt")}
        assert all(after[name] == mtime for name, mtime in checkpoints.items())  # finished epochs not redone

        again = run_deployment(
            "es-train/affine-es-training",
            timeout=0,
            parameters={"run_name": "killed-es", "storage": db, "add_steps": 10},
        )
        state = wait_for_state(again.id, lambda s: s.is_final(), 240, log)
        assert state.is_completed(), f"{state}\n{log.read_text()[-4000:]}"
        assert epochs() == {0: 10, 1: 20, 2: 30, 3: 40, 4: 50}


def test_an_evolution_run_killed_after_its_meta_agent_step_is_retried_without_calling_it_again(
    llm_server, tmp_path, prefect_harness
):
    """SIGKILL right after generation 1's MetaAgent finished (inside its evaluation); retried through the
    API, another worker finishes the run from the stored spec: the MetaAgent is not asked again."""
    import json

    import psutil
    from evolution_scripts import is_meta, make_repo, meta_agent_repairs, meta_requests, responder
    from prefect.deployments import run_deployment

    from deployments.register import apply_deployments
    from hyperfunc_core.evolution.archive import load_archive

    out = tmp_path / "out"
    script = responder(meta_agent_repairs)

    def slow_evaluation_after_the_meta_agent(body: dict):
        reply = script(body)
        meta = out / "gen_1" / "metadata.json"
        if not is_meta(body) and meta.exists() and json.loads(meta.read_text()).get("meta_agent_done"):
            reply.delay_s = 2.0  # holds generation 1's evaluation, so the kill lands inside it
        return reply

    llm_server.responder = slow_evaluation_after_the_meta_agent
    pool, log = "evolution-retry-pool", tmp_path / "worker.log"
    spec = {
        "domain": "calculator",
        "repo": str(make_repo(tmp_path)),
        "model": "openai/gpt-4o-mini",
        "api_base": llm_server.api_base,
        "generations": 3,
        "output": str(out),
        "prompts_dir": "prompts",
        "eval_samples": 4,  # of each split: what resumes is the loop, not the size of its evaluations
        "executor": "sandbox" if os.environ.get("HYPERFUNC_TEST_SANDBOX") == "required" else "local",
    }
    apply_deployments(["weekly-calculator-evolution"], work_pool=pool, with_schedules=False)
    env = worker_env(tmp_path, HYPERFUNC_LLM_API_KEY="k")
    db = f"sqlite:///{tmp_path / 'evolution.db'}"
    with process_worker(pool, env, log) as worker:
        run = run_deployment(
            "evolution/weekly-calculator-evolution",
            timeout=0,
            parameters={"run_name": "killed-evolution", "storage": db, "spec": spec, "add_generations": None},
        )
        meta = out / "gen_1" / "metadata.json"
        deadline = time.time() + 240
        while not (meta.exists() and json.loads(meta.read_text()).get("meta_agent_done")) and time.time() < deadline:
            time.sleep(0.2)
        assert meta.exists() and json.loads(meta.read_text())["meta_agent_done"], log.read_text()[-4000:]
        asked = meta_requests(llm_server)
        flow_processes = [c for c in psutil.Process(worker.pid).children(recursive=True)]
        assert flow_processes, log.read_text()[-4000:]
        for child in flow_processes:  # the flow-run process (and anything it started)
            with contextlib.suppress(psutil.NoSuchProcess):  # a short-lived one (a tool's command) ended first
                child.kill()
        assert wait_for_state(run.id, lambda s: s.is_final(), 120, log).is_crashed()
    assert "1" not in load_archive(out).entries

    retry_through_the_api(run.id)
    log = tmp_path / "worker2.log"
    with process_worker(pool, env, log):
        state = retried_run_ends(run.id, 240, log)
        assert state.is_completed(), f"{state}\n{log.read_text()[-4000:]}"
    assert "perfect score" in state.message, state.message
    assert meta_requests(llm_server) == asked  # resumed: not one more MetaAgent request
    archive = load_archive(out)
    assert archive.archive == ["initial", "1"] and archive.entry("1").scores == {"calculator": 1.0}
