"""A tuning sweep as a Prefect flow: every trial a task, progress and results as artifacts."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Completed

from flows.progress import ProgressArtifact, artifact_key
from flows.runners import make_task_runner
from flows.step_runner import PrefectRunner
from flows.task_logs import quiet_task_logs
from hyperfunc_core.reports import sweep_report
from hyperfunc_core.tuning.strategies.base import TrialRecord
from hyperfunc_core.tuning.sweep import Sweep, sweep_output_dir


def _study_run_name() -> str:
    from prefect.runtime import flow_run

    sweep = (flow_run.parameters or {}).get("sweep")
    return f"tune-{sweep.study_name}" if sweep is not None else "tune"


@flow(name="tune", flow_run_name=_study_run_name, persist_result=False, log_prints=True)
def tune_flow(sweep: Sweep, trial_retries: int = 0) -> Any:
    """Ask -> run trial (task) -> tell, until the strategy, the budget or the clock says stop.
    A failed trial's task ends Failed and the sweep goes on; the flow's final state counts them."""
    total = sweep.max_trials
    progress = ProgressArtifact(f"trials of study {sweep.study_name}", 100.0 * sweep.replayed / total)

    def on_progress(s: Sweep, finished: list[TrialRecord], running: int) -> None:
        progress.update(100.0 * (s.replayed + len(finished)) / total)

    with quiet_task_logs("run-trial"):
        result = sweep.run(PrefectRunner(f"tune-{sweep.study_name}"), on_progress, trial_retries)
    done = sum(t["state"] != "interrupted" for t in result["trials"])
    progress.finish(100.0 if done >= total else 100.0 * done / total)
    rows = [{"number": t["number"], "state": t["state"], sweep.setup.metric: t["value"], "params": str(t["params"]),
             "error": (t["error"] or "").splitlines()[0] if t["error"] else ""} for t in result["trials"]]
    create_table_artifact(rows, key=artifact_key("trials", sweep.study_name), description=f"trials of study {sweep.study_name}")
    report = sweep_report({**result, "strategy": sweep.setup.strategy.name}, sweep_output_dir(sweep.study_name))
    create_markdown_artifact(report.markdown, key=artifact_key("report", sweep.study_name),
                             description=f"report of study {sweep.study_name} ({report.path})")
    result = {**result, "report": str(report.path)}
    counts = ", ".join(f"{n} {state}" for state, n in sorted(result["counts"].items()))
    return Completed(message=f"{len(result['trials'])} trials: {counts}", data=result)


def run_sweep_flow(sweep: Sweep, trial_retries: int = 0, task_runner: Any = "thread") -> dict:
    """Run ``tune_flow`` on ``task_runner`` with as many workers as the sweep runs trials at once."""
    return tune_flow.with_options(task_runner=make_task_runner(task_runner, sweep.max_concurrent))(sweep, trial_retries)
