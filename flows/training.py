"""ES training as a Prefect flow: epochs of step tasks, a checkpoint task closing each epoch."""

from __future__ import annotations

import math
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.utilities.annotations import quote

from flows.runners import make_task_runner
from hyperfunc_core.hyper.training import TrainingJob, complete, es_step, initial_state, shards
from hyperfunc_core.orchestration import ProgressArtifact, artifact_key, quiet_task_logs
from tasks.carry import carry
from tasks.training import checkpoint_task, es_step_task, population_shard_task


# Flow parameters go to the API with the flow run, so they stay small: the run's name.
# The job (system, data, θ) lives in this process, where the flow's tasks read it.
_JOBS: dict[str, TrainingJob] = {}


@flow(name="es-train", flow_run_name="train-{run_name}", persist_result=False, log_prints=True)
def train_flow(run_name: str) -> dict:
    """Epochs from the last checkpoint on, each a block of step tasks closed by a checkpoint
    task (epochs are not subflows: a subflow run costs about a second of API calls here).
    The loss curve and final metrics are published as artifacts."""
    job = _JOBS[run_name]
    state = initial_state(job)
    progress = ProgressArtifact(f"epochs of ES run {job.run_name}", 100.0 * job.resumed.next_epoch / job.n_epochs)
    with quiet_task_logs(es_step_task.name, checkpoint_task.name, population_shard_task.name):
        for epoch in range(job.resumed.next_epoch, job.n_epochs):
            step_metrics: list[dict] = []
            steps = job.epoch_steps(epoch)
            if job.population_shards > 1:  # each step in the flow, its population scored as shard tasks
                for _ in steps:
                    state, metrics = es_step(job, state, evaluate=_score_in_shards)
                    step_metrics.append(metrics)
            else:
                for first in steps[::job.steps_per_task]:
                    count = min(job.steps_per_task, steps.stop - first)
                    label = f"epoch-{epoch}-step-{first}" + (f"-{first + count - 1}" if count > 1 else "")
                    state, metrics = es_step_task.with_options(task_run_name=label)(quote(job), quote(state), count)
                    step_metrics.extend(metrics)
            metrics = checkpoint_task(quote(job), quote(state), epoch, step_metrics)
            progress.update(100.0 * (epoch + 1) / job.n_epochs)
            print(f"epoch {epoch}: train {_fmt(metrics['train_score'])}, val {_fmt(metrics['val_score'])}")
    result = complete(job, state)
    progress.finish(100.0)
    _publish(job, result)
    return {k: v for k, v in result.items() if k != "theta"}


def _score_in_shards(job: TrainingJob, candidates, examples) -> tuple[list[float], list]:
    """The population as ``job.population_shards`` tasks on the flow's task runner, in order."""
    futures = [population_shard_task.submit(carry(job), carry(candidates[part]), carry(examples))
               for part in shards(len(candidates), job.population_shards)]
    scores, errors = [], []
    for future in futures:
        part_scores, part_errors = future.result()
        scores.extend(part_scores)
        errors.extend(part_errors)
    return scores, errors


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
