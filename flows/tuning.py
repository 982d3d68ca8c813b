"""A tuning sweep as a Prefect flow: every trial a task, progress and results as artifacts."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Completed

from flows.progress import ProgressArtifact, artifact_key, embedded_images
from flows.results import call_flow, keep
from flows.run_names import run_name_for
from flows.runners import task_runner_for
from flows.step_runner import PrefectRunner
from flows.task_logs import quiet_task_logs
from hyperfunc_core.reports import sweep_report
from hyperfunc_core.settings import get_settings
from hyperfunc_core.tuning.strategies.base import TrialRecord
from hyperfunc_core.tuning.sweep import Sweep, reopen_sweep, sweep_output_dir

# Sweeps prepared by tune() in this process, by study name: the flow runs the caller's own objects
# (its lambdas and closures too). A flow run without one (a retry, a worker, a schedule) rebuilds the
# sweep from the study's stored spec.
_PREPARED: dict[str, Sweep] = {}


@flow(name="tune", flow_run_name="tune-{study}", persist_result=False, log_prints=True)
def tune_flow(
    study: str,
    storage: str | None = None,
    spec: dict | None = None,
    add_trials: int | None = None,
    dated: bool = False,
    trial_retries: int = 0,
) -> Any:
    """Ask -> run trial (task) -> tell, until the strategy, the budget or the clock says stop.

    ``study`` in ``storage`` (default: the project database) resumes: finished trials are reused.
    A study that does not exist yet is created from ``spec`` (``{"objective": "FILE:NAME",
    "space": "FILE:SPACE", "options": {...}}``). ``add_trials``: run that many more trials than the
    study has (a schedule's way to add work); ``dated``: a new study ``<study>-<date>`` each run.
    A failed trial's task ends Failed and the sweep goes on; the flow's final state counts them."""
    sweep = _PREPARED.pop(study, None)
    if sweep is None:
        sweep = reopen_sweep(
            run_name_for(study, dated), storage or get_settings().resolved_database_url, add_trials, spec
        )
    total = sweep.max_trials
    progress = ProgressArtifact(f"trials of study {sweep.study_name}", 100.0 * sweep.replayed / total)

    def on_progress(s: Sweep, finished: list[TrialRecord], running: int) -> None:
        progress.update(100.0 * (s.replayed + len(finished)) / total)

    with quiet_task_logs("run-trial"):
        result = sweep.run(PrefectRunner(f"tune-{sweep.study_name}"), on_progress, trial_retries)
    done = sum(t["state"] != "interrupted" for t in result["trials"])
    progress.finish(100.0 if done >= total else 100.0 * done / total)
    rows = [
        {
            "number": t["number"],
            "state": t["state"],
            sweep.setup.metric: t["value"],
            "params": str(t["params"]),
            "error": (t["error"] or "").splitlines()[0] if t["error"] else "",
        }
        for t in result["trials"]
    ]
    create_table_artifact(
        rows, key=artifact_key("trials", sweep.study_name), description=f"trials of study {sweep.study_name}"
    )
    report = sweep_report(
        {**result, "strategy": sweep.setup.strategy.name},
        sweep_output_dir(sweep.study_name),
        reports=sweep.setup.store.reports(),
    )
    create_markdown_artifact(
        embedded_images(report.markdown, report.folder),
        key=artifact_key("report", sweep.study_name),
        description=f"report of study {sweep.study_name} ({report.path})",
    )
    result = {**result, "report": str(report.path)}
    counts = ", ".join(f"{n} {state}" for state, n in sorted(result["counts"].items()))
    return Completed(message=f"{len(result['trials'])} trials: {counts}", data=keep(result))


def run_sweep_flow(sweep: Sweep, trial_retries: int = 0, task_runner: Any = "thread") -> dict:
    """Run ``tune_flow`` for a sweep ``tune()`` prepared, on ``task_runner`` with as many workers as
    the sweep runs trials at once."""
    url = getattr(sweep.setup.store, "url", None)  # None: a study in memory, which only this process can run
    _PREPARED[sweep.study_name] = sweep
    try:
        with task_runner_for(task_runner, sweep.max_concurrent) as runner:
            sweep_flow = tune_flow.with_options(task_runner=runner)
            return call_flow(
                lambda: sweep_flow(
                    sweep.study_name, url, sweep.spec if url else None, trial_retries=trial_retries, return_state=True
                )
            )
    finally:
        _PREPARED.pop(sweep.study_name, None)
