"""ES training as a Prefect flow: each epoch a subflow of step tasks closed by a checkpoint task."""

from __future__ import annotations

import math
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.progress import ProgressArtifact, artifact_key
from flows.runners import make_task_runner
from flows.step_runner import PrefectRunner
from flows.task_logs import quiet_task_logs
from hyperfunc_core.hyper.training import TrainingJob, train

# Flow parameters go to the API with the flow run, so they stay small: the run's name.
# The job (system, data, θ) lives in this process, where the flow's tasks read it.
_JOBS: dict[str, TrainingJob] = {}


@flow(name="es-train", flow_run_name="train-{run_name}", persist_result=False, log_prints=True)
def train_flow(run_name: str) -> dict:
    """Epochs from the last checkpoint on (``train``); the loss curve and final metrics as artifacts."""
    job = _JOBS[run_name]
    progress = ProgressArtifact(f"epochs of ES run {job.run_name}", 100.0 * job.resumed.next_epoch / job.n_epochs)

    def on_epoch(metrics: dict) -> None:
        progress.update(100.0 * (metrics["epoch"] + 1) / job.n_epochs)
        print(f"epoch {metrics['epoch']}: train {_fmt(metrics['train_score'])}, val {_fmt(metrics['val_score'])}")

    with quiet_task_logs("es-step", "es-checkpoint", "es-population-shard"):
        result = train(job, PrefectRunner(f"train-{run_name}"), on_epoch)
    progress.finish(100.0)
    _publish(job, result)
    return {k: v for k, v in result.items() if k != "theta"}


def run_training_flow(job: TrainingJob) -> dict:
    """Run ``train_flow`` for ``job``; returns the run's summary with the trained θ."""
    _JOBS[job.run_name] = job
    try:
        runner = make_task_runner(job.task_runner, job.population_shards)
        summary = train_flow.with_options(task_runner=runner)(job.run_name)
    finally:
        _JOBS.pop(job.run_name, None)
    return {**summary, "theta": job.system.get_hp_state()}


def _publish(job: TrainingJob, result: dict) -> None:
    key = artifact_key("es", job.run_name)
    create_table_artifact(job.history, key=f"{key}-epochs", description=f"per-epoch metrics of ES run {job.run_name}")
    curve = [m["train_score"] for m in job.history if m.get("train_score") is not None]
    create_markdown_artifact(
        f"train score by epoch: `{sparkline(curve)}`\n\n" + Path(result["report"]).read_text(),
        key=f"{key}-summary", description=f"loss curve and final metrics of ES run {job.run_name} ({result['report']})",
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
