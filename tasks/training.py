"""ES training tasks: one batched population evaluation per step, a checkpoint per epoch.

Pure computation: no retries. The system and state travel as ``quote``d objects, so
Prefect neither walks nor hashes tensors; resume comes from our own checkpoints.
"""

from __future__ import annotations

from prefect import task

from hyperfunc_core.es.strategy import ESState
from hyperfunc_core.hyper.training import TrainingJob, es_step, evaluate_candidates, finish_epoch
from tasks.carry import Carried, unwrap


@task(name="es-step", persist_result=False, cache_policy=None)
def es_step_task(job: TrainingJob, state: ESState, steps: int = 1) -> tuple[ESState, list[dict]]:
    """``steps`` ES steps (default one): ask -> evaluate_population on the step's minibatch -> tell."""
    metrics = []
    for _ in range(steps):
        state, m = es_step(job, state)
        metrics.append(m)
    return state, metrics


@task(name="es-checkpoint", task_run_name="checkpoint-epoch-{epoch}", persist_result=False, cache_policy=None)
def checkpoint_task(job: TrainingJob, state: ESState, epoch: int, step_metrics: list[dict]) -> dict:
    """Score θ, save θ and the optimiser state, record the epoch."""
    return finish_epoch(job, state, epoch, step_metrics)


@task(name="es-population-shard", persist_result=False, cache_policy=None)
def population_shard_task(job: Carried[TrainingJob], candidates: Carried, examples: Carried) -> tuple[list, list]:
    """Scores of one shard of a step's population (its rows of θ) on the step's minibatch."""
    return evaluate_candidates(unwrap(job), unwrap(candidates), unwrap(examples))
