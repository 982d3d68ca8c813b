"""A tuning sweep as a Prefect flow: every trial a task, progress and results as artifacts."""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.runners import make_task_runner
from hyperfunc_core.orchestration import ProgressArtifact, artifact_key, quiet_task_logs
from hyperfunc_core.reports import sweep_report
from hyperfunc_core.tuning.strategies.base import TrialRecord
from hyperfunc_core.tuning.sweep import Sweep, sweep_output_dir
from tasks.carry import carry
from tasks.tuning import run_trial_task


def _study_run_name() -> str:
    from prefect.runtime import flow_run

    sweep = (flow_run.parameters or {}).get("sweep")
    return f"tune-{sweep.study_name}" if sweep is not None else "tune"


@flow(name="tune", flow_run_name=_study_run_name, persist_result=False, log_prints=True)
def tune_flow(sweep: Sweep, trial_retries: int = 0) -> dict:
    """Ask -> run trial (task) -> tell, until the strategy, the budget or the clock says stop."""
    trial_task = run_trial_task.with_options(retries=trial_retries, retry_delay_seconds=0)
    total = sweep.max_trials
    progress = ProgressArtifact(f"trials of study {sweep.study_name}", 100.0 * sweep.replayed / total)

    def on_progress(s: Sweep, finished: list[TrialRecord], running: int) -> None:
        progress.update(100.0 * (s.replayed + len(finished)) / total)

    def submit(trial: TrialRecord) -> cf.Future:
        prefect_future = trial_task.submit(carry(sweep.setup), carry(trial), trial_retries)
        out: cf.Future = cf.Future()

        def relay(_: cf.Future) -> None:
            try:
                out.set_result(prefect_future.result())
            except BaseException as exc:  # noqa: BLE001 - passed to the sweep, which records it
                out.set_exception(exc)

        prefect_future.wrapped_future.add_done_callback(relay)
        return out

    with quiet_task_logs(run_trial_task.name):
        result = sweep.run(submit, on_progress)
    done = sum(t["state"] != "interrupted" for t in result["trials"])
    progress.finish(100.0 if done >= total else 100.0 * done / total)
    rows = [{"number": t["number"], "state": t["state"], sweep.setup.metric: t["value"], "params": str(t["params"]),
             "error": (t["error"] or "").splitlines()[0] if t["error"] else ""} for t in result["trials"]]
    create_table_artifact(rows, key=artifact_key("trials", sweep.study_name), description=f"trials of study {sweep.study_name}")
    report = sweep_report({**result, "strategy": sweep.setup.strategy.name}, sweep_output_dir(sweep.study_name))
    create_markdown_artifact(report.markdown, key=artifact_key("report", sweep.study_name),
                             description=f"report of study {sweep.study_name} ({report.path})")
    return {**result, "report": str(report.path)}


def run_sweep_flow(sweep: Sweep, trial_retries: int = 0, task_runner: Any = "thread") -> dict:
    """Run ``tune_flow`` on ``task_runner`` with as many workers as the sweep runs trials at once."""
    return tune_flow.with_options(task_runner=make_task_runner(task_runner, sweep.max_concurrent))(sweep, trial_retries)
