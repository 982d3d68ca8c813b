"""Against a real ``prefect server start`` (its scheduler running) and real process workers:
schedule ticks add work to a study, and two workers on one pool split a PostgreSQL-backed study
without running any trial twice. This is what the README's run lifecycle and multi-machine
sections describe."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import postgres_url_or_skip
from prefect_workers import process_worker, wait_for_state, worker_env
from tuning_objectives import logged

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """``prefect server start`` on a free loopback port, its scheduler looking every second."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
    }
    env.pop("PREFECT_API_URL", None)
    log = open(home.parent / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.time() < deadline, (home.parent / "server.log").read_text()[-3000:]
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _deployment_file(tmp_path: Path, name: str, study: str, spec: dict, schedule: list, **parameters) -> Path:
    """The project's sweep deployment (from deployments/prefect.yaml), re-aimed at this test's study."""
    document = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    sweep = next(d for d in document["deployments"] if d["entrypoint"] == "flows/tuning.py:tune_flow")
    sweep.update(name=name, schedules=schedule)
    sweep["parameters"] = {"study": study, "spec": spec, **parameters}
    document["deployments"] = [sweep]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _trials(url: str, study: str) -> list:
    from hyperfunc_core.storage import Study, Trial, session_scope

    with session_scope(url) as session:
        row = session.query(Study).filter(Study.name == study).first()
        return [] if row is None else list(session.query(Trial).filter(Trial.study_id == row.id).all())


def _evaluations(log: Path) -> list[tuple[str, str, str]]:
    return [tuple(line.split(",")) for line in log.read_text().splitlines()] if log.exists() else []


def test_schedule_ticks_add_trials_and_two_workers_split_a_postgres_study(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.register import apply_deployments
    from hyperfunc_core import Int
    from hyperfunc_core.launch import run_sweep
    from hyperfunc_core.tuning.sweep import prepare_sweep

    db = postgres_url_or_skip()
    tag = uuid.uuid4().hex[:8]
    space = {"a": Int(0, 9), "b": Int(0, 9)}
    evaluations, initial = tmp_path / "evaluations.log", tmp_path / "initial.log"
    os.environ["TUNING_LOG"] = str(initial)  # the study's first trials, run here
    try:
        ticked, split = f"ticked-{tag}", f"split-{tag}"
        first = prepare_sweep(logged, space, strategy="grid", max_trials=2, storage=db, study_name=ticked, seed=0)
        run_sweep(first, orchestrate=False)
        spec = first.spec
    finally:
        os.environ.pop("TUNING_LOG")
    (tmp_path / "prefect").mkdir()
    with prefect_server(tmp_path / "prefect") as api, temporary_settings({PREFECT_API_URL: api}):
        env = worker_env(tmp_path, TUNING_LOG=str(evaluations), TRIAL_SLEEP="1.0")
        logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
        with ExitStack() as workers:
            for log in logs:
                workers.enter_context(process_worker("schedule-pool", env, log))

            # First, while both workers are free: two flow runs of one sweep deployment at the same time,
            # one on each worker, share the study (its claims in PostgreSQL arbitrate): 12 trials, none
            # run twice, and both flow-run processes ran some.
            path = _deployment_file(
                tmp_path, "splitting", split, {**spec, "options": {**spec["options"], "max_trials": 12}}, [], storage=db
            )
            text = yaml.safe_load(path.read_text())
            text["deployments"][0]["concurrency_limit"] = 2
            path.write_text(yaml.safe_dump(text))
            apply_deployments(["splitting"], work_pool="schedule-pool", path=path)
            both = [run_deployment("tune/splitting", timeout=0) for _ in range(2)]
            for run in both:
                state = wait_for_state(run.id, lambda s: s.is_final(), 240, logs[1])
                assert state.is_completed(), state
            trials = _trials(db, split)
            assert len(trials) == 12 and all(t.state == "complete" for t in trials)
            logged_points = _evaluations(evaluations)
            assert len(logged_points) == 12 and len({(a, b) for a, b, _ in logged_points}) == 12
            assert len({pid for _, _, pid in logged_points}) == 2, "each worker's flow-run process ran trials"
            evaluations.unlink()

            # Two ticks of a 30-second schedule, each adding 2 trials to the study (concurrency 1: a
            # tick never overlaps the one before it, which would count the same trials).
            path = _deployment_file(tmp_path, "ticking", ticked, spec, [{"interval": 30}], storage=db, add_trials=2)
            (deployment,) = apply_deployments(["ticking"], work_pool="schedule-pool", path=path)
            deadline = time.time() + 240
            with get_client(sync_client=True) as client:
                while True:
                    runs = client.read_flow_runs(
                        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
                    )
                    finished = [r for r in runs if r.state and r.state.is_completed()]
                    if len(finished) >= 2:
                        break
                    assert time.time() < deadline, [(r.name, r.state_name) for r in runs]
                    time.sleep(1)
                client.pause_deployment(deployment.id)  # no more ticks while the trials are counted
                assert all(r.auto_scheduled for r in finished), "runs made by the server's scheduler"

                def of_the_deployment() -> list:
                    return client.read_flow_runs(
                        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
                    )

                settle = time.time() + 240  # ticks that have not begun are dropped; running ones finish
                while pending := [r for r in of_the_deployment() if r.state and not r.state.is_final()]:
                    for run in pending:
                        if not run.state.is_running():  # its flow has not begun: it added nothing yet
                            client.delete_flow_run(run.id)
                    assert time.time() < settle, [(r.name, r.state_name) for r in pending]
                    time.sleep(1)
                runs = of_the_deployment()
            ran = sum(1 for r in runs if r.state and r.state.is_completed())
            trials = _trials(db, ticked)
            assert ran >= 2 and len(trials) == 2 + 2 * ran, (len(trials), ran)
            assert all(t.state == "complete" for t in trials)
            points = [(str(t.params["a"]), str(t.params["b"])) for t in trials]
            ran_points = [(a, b) for a, b, _ in _evaluations(initial) + _evaluations(evaluations)]
            assert sorted(points) == sorted(ran_points)  # none run twice
