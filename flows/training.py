"""ES training as a Prefect flow: each epoch a subflow of step tasks closed by a checkpoint task."""

from __future__ import annotations

import math
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.progress import ProgressArtifact, artifact_key, embedded_images
from flows.results import call_flow, keep
from flows.run_names import run_name_for
from flows.runners import task_runner_for
from flows.step_runner import PrefectRunner
from flows.task_logs import quiet_task_logs
from hyperfunc_core.hyper.training import TrainingJob, train
from hyperfunc_core.jobs import reopen_training

# Jobs prepared by optimize() in this process, by run name: the flow trains the caller's own system
# and data. A flow run without one (a retry, a worker, a schedule) rebuilds the job from the run's spec.
_JOBS: dict[str, TrainingJob] = {}


@flow(name="es-train", flow_run_name="train-{run_name}", persist_result=False, log_prints=True)
def train_flow(
    run_name: str,
    storage: str | None = None,
    spec: dict | None = None,
    add_steps: int | None = None,
    dated: bool = False,
) -> dict:
    """Epochs from the last checkpoint on (``train``), each a subflow; the loss curve and final metrics
    as artifacts. A run not in ``storage`` (default: the project database) starts from ``spec``
    (``{"system": "FILE:NAME", "options": {...}}``); ``add_steps``: train that many steps beyond the
    last checkpoint (a schedule's way to add work); ``dated``: a new run ``<run_name>-<date>`` each time."""
    job = _JOBS.pop(run_name, None)
    if job is None:
        job = reopen_training(run_name_for(run_name, dated), storage, spec, add_steps)
    progress = ProgressArtifact(f"epochs of ES run {job.run_name}", 100.0 * job.resumed.next_epoch / job.n_epochs)

    def on_epoch(metrics: dict) -> None:
        progress.update(100.0 * (metrics["epoch"] + 1) / job.n_epochs)
        print(f"epoch {metrics['epoch']}: train {_fmt(metrics['train_score'])}, val {_fmt(metrics['val_score'])}")

    with quiet_task_logs("es-step", "es-checkpoint", "es-population-shard"):
        result = train(job, PrefectRunner(f"train-{run_name}"), on_epoch)
    progress.finish(100.0)
    _publish(job, result)
    return keep({k: v for k, v in result.items() if k != "theta"})


def run_training_flow(job: TrainingJob) -> dict:
    """Run ``train_flow`` for ``job``; returns the run's summary with the trained θ."""
    _JOBS[job.run_name] = job
    try:
        with task_runner_for(job.task_runner, job.population_shards) as runner:
            training = train_flow.with_options(task_runner=runner)
            summary = call_flow(
                lambda: training(job.run_name, job.store.database_url, job.resumed.spec or None, return_state=True)
            )
    finally:
        _JOBS.pop(job.run_name, None)
    return {**summary, "theta": job.system.get_hp_state()}


def _publish(job: TrainingJob, result: dict) -> None:
    key = artifact_key("es", job.run_name)
    rows = [{k: v for k, v in m.items() if k != "step_scores"} for m in job.history]
    create_table_artifact(rows, key=f"{key}-epochs", description=f"per-epoch metrics of ES run {job.run_name}")
    curve = [m["train_score"] for m in job.history if m.get("train_score") is not None]
    create_markdown_artifact(
        f"train score by epoch: `{sparkline(curve)}`\n\n"
        + embedded_images(Path(result["report"]).read_text(), Path(result["report"]).parent),
        key=f"{key}-summary",
        description=f"loss curve and final metrics of ES run {job.run_name} ({result['report']})",
    )


def sparkline(values: list[float]) -> str:
    bars = "▁▂▃▄▅▆▇█"
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    return "".join(bars[int((v - lo) / (hi - lo) * 7) if hi > lo else 0] for v in finite)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"
