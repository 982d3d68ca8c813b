"""``tune()``: the Hyperion entry point, run as a Prefect flow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hyperfunc_core.tuning.sweep import prepare_sweep
from hyperfunc_core.validation import InvalidInput


def tune(
    objective: Callable[..., Any],
    space: dict,
    strategy: Any = "random",
    strategy_kwargs: dict | None = None,
    max_trials: int | None = None,
    max_concurrent: int = 1,
    max_time_s: float | None = None,
    metric: str | list[str] = "score",
    mode: str | list[str] = "max",
    constraints: list[str] | None = None,
    early_stopping: Any = None,
    early_stopping_kwargs: dict | None = None,
    storage: Any = None,
    study_name: str | None = None,
    enqueue: list[dict] | None = None,
    warm_start: str | None = None,
    executor: str = "thread",
    trial_timeout_s: float | None = None,
    trial_retries: int = 0,
    task_runner: Any = "thread",
    seed: int | None = None,
    show_progress: bool = False,
    show_summary: bool = False,
    orchestrate: bool = True,
) -> dict:
    """Search ``space`` for the parameters that maximise (``mode="max"``) or minimise ``metric``.

        Every argument is checked before a trial runs. The sweep is a Prefect flow, each trial
        a task. With ``storage`` (a database URL), running again resumes the study (named
        ``study_name``, else after the objective): finished trials are reused, never rerun.
        ``metric=["loss", "latency"]`` with a ``mode`` each searches for the Pareto front
        (``result["pareto"]``); ``constraints``: metrics that must be <= 0 for a trial to count.
        ``enqueue``: parameter dicts to run first (left-out parameters are sampled; one the study
        already ran is not run again); ``warm_start``: the name of another study in ``storage``
        whose finished trials the strategy learns from before it asks (they are not this study's).
        ``max_trials`` counts every trial of the study (default: what the strategy plans, else 50);
        ``max_time_s`` stops new trials from starting, it does not interrupt running ones; ``trial_timeout_s`` fails a trial
        that overruns. ``task_runner``: ``"thread"`` (default), ``"dask"`` (a local two-worker
        Dask cluster, or ``HYPERFUNC_DASK_ADDRESS``) or a Prefect ``TaskRunner``; the trials and
        their results are the same on each; ``orchestrate=False`` runs the same loop without
    Prefect (a thread pool in this process). Returns ``{"best": {...}, "trials": [...], ...}``.
    """
    if isinstance(trial_retries, bool) or not isinstance(trial_retries, int) or trial_retries < 0:
        raise InvalidInput(f"trial_retries: expected an integer >= 0, got {trial_retries!r}")
    from hyperfunc_core import launch

    if orchestrate:
        launch.check_task_runner(task_runner)
    sweep = prepare_sweep(
        objective,
        space,
        strategy=strategy,
        strategy_kwargs=strategy_kwargs,
        max_trials=max_trials,
        max_concurrent=max_concurrent,
        max_time_s=max_time_s,
        metric=metric,
        mode=mode,
        constraints=constraints,
        early_stopping=early_stopping,
        early_stopping_kwargs=early_stopping_kwargs,
        storage=storage,
        study_name=study_name,
        enqueue=enqueue,
        warm_start=warm_start,
        executor=executor,
        trial_timeout_s=trial_timeout_s,
        seed=seed,
        show_progress=show_progress,
        show_summary=show_summary,
    )
    return launch.run_sweep(sweep, trial_retries=trial_retries, task_runner=task_runner, orchestrate=orchestrate)
