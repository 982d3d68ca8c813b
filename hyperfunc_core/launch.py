"""How the public entry points start an engine's loop: as the engine's Prefect flow, or inline.

``tune``, ``HyperSystem.optimize`` and ``run_generate_loop`` (and through them the CLI, the demo
and the deployments) come here once their arguments are checked. This is the one module of
``hyperfunc_core`` that reaches up into ``flows/``, and only at call time, so the library imports
without Prefect and the engines' loops never know what runs their steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperfunc_core.steps import InlineRunner

if TYPE_CHECKING:
    from hyperfunc_core.evolution.loop import EvolutionLoop, LoopResult
    from hyperfunc_core.history.runs import RunSummary
    from hyperfunc_core.hyper.training import TrainingJob
    from hyperfunc_core.tuning.sweep import Sweep


def check_task_runner(task_runner: Any) -> None:
    """Fail fast, before any work, on a task runner name we do not know (or dask without prefect-dask)."""
    from flows.runners import check_task_runner as check

    check(task_runner)


def run_sweep(sweep: "Sweep", *, trial_retries: int = 0, task_runner: Any = "thread", orchestrate: bool = True) -> dict:
    """The sweep as the ``tune`` flow (each trial a task), or inline on a thread pool."""
    if not orchestrate:
        with InlineRunner(sweep.max_concurrent) as runner:
            return sweep.run(runner, trial_retries=trial_retries)
    from flows.api import ensure_api
    from flows.tuning import run_sweep_flow

    ensure_api()
    return run_sweep_flow(sweep, trial_retries, task_runner)


def run_training(job: "TrainingJob", *, orchestrate: bool = True) -> dict:
    """ES training as the ``es-train`` flow (each epoch a subflow), or inline."""
    from hyperfunc_core.hyper.training import train

    if not orchestrate:
        with InlineRunner(job.population_shards) as runner:
            return train(job, runner)
    from flows.api import ensure_api
    from flows.training import run_training_flow

    ensure_api()
    return run_training_flow(job)


def run_evolution(loop: "EvolutionLoop", *, orchestrate: bool = True) -> "LoopResult":
    """The generation loop as the ``evolution`` flow (each generation a subflow), or inline."""
    if not orchestrate:
        with InlineRunner() as runner:
            return loop.result(loop.run(runner))
    from flows.api import ensure_api
    from flows.evolution import run_evolution_flow

    ensure_api()
    return run_evolution_flow(loop)


def attach_flow_runs(runs: list["RunSummary"]) -> None:
    """Each run's latest flow run and its state, where Prefect's API knows one."""
    from flows.api import ensure_api
    from flows.history import attach_flow_runs as attach

    ensure_api()
    attach(runs)
