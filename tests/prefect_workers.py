"""A real ``prefect worker start`` process for tests, and waiting on the runs it picks up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]


def worker_env(tmp_path: Path, **extra: str) -> dict:
    """The environment a subprocess needs to reach the session's Prefect test server."""
    from prefect.settings import PREFECT_API_URL

    return {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "HYPERFUNC_HOME": str(tmp_path / "home"),
        "HYPERFUNC_PROJECT_DIR": str(ROOT),
        **extra,
    }


@contextmanager
def process_worker(pool: str, env: dict, log_path: Path) -> Iterator[subprocess.Popen]:
    """A process-type worker on ``pool``, polling every 2 s; stopped with its flow-run processes at the end."""
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process", "--limit", "1"],
            cwd=ROOT,
            env={**env, "PREFECT_WORKER_QUERY_SECONDS": "2"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield worker
        finally:  # the worker and any flow-run process it started; a slow graceful stop is not what is tested
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=30)


def wait_for_state(flow_run_id: UUID, done, timeout_s: float, log_path: Path):
    """Poll the flow run until ``done(state)``; fail with the worker's log when it does not come."""
    from prefect.client.orchestration import get_client

    deadline = time.time() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(flow_run_id).state
            if done(state):
                return state
            if time.time() > deadline:
                raise AssertionError(f"flow run still {state} after {timeout_s} s\n{log_path.read_text()[-4000:]}")
            time.sleep(0.5)


def retry_through_the_api(flow_run_id: UUID) -> None:
    """What the UI's Retry button does to a crashed or failed flow run: back to the pool for a worker."""
    from prefect.client.orchestration import get_client
    from prefect.states import AwaitingRetry

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, AwaitingRetry(), force=True)


def retried_run_ends(flow_run_id: UUID, timeout_s: float, log_path: Path):
    """The final state of a retried flow run (past its AwaitingRetry)."""
    return wait_for_state(flow_run_id, lambda s: s.is_final() and s.name != "AwaitingRetry", timeout_s, log_path)
