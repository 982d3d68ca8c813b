"""The trial task: one objective evaluation, retryable, stored as it happens."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.runtime import task_run

from hyperfunc_core.tuning.strategies.base import TrialRecord
from tasks.carry import Carried, unwrap
from hyperfunc_core.tuning.trial_runner import TrialSetup, run_trial


def _trial_name() -> str:
    trial = unwrap((task_run.parameters or {}).get("trial"))  # the flow carries it: Prefect need not walk it
    return f"trial-{trial.number}" if isinstance(trial, TrialRecord) else "trial"


@task(name="run-trial", task_run_name=_trial_name, persist_result=False, cache_policy=None)
def run_trial_task(setup: Carried[TrialSetup], trial: Carried[TrialRecord], retries: int = 0) -> TrialRecord:
    """Run one trial. With ``retries``, a failed attempt raises so that Prefect retries it;
    the last attempt's failure is recorded and returned, so the sweep goes on."""
    setup, trial = unwrap(setup), unwrap(trial)
    finished = run_trial(setup, trial)
    if finished.state == "failed":
        get_run_logger().warning("trial %s failed: %s", trial.number, (finished.error or "").splitlines()[0])
    if finished.state == "failed" and task_run.run_count <= retries:
        raise RuntimeError(f"trial {trial.number} failed (attempt {task_run.run_count}): {finished.error}")
    return finished
