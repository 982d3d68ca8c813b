"""The task every engine step runs as, and each step's retry policy.

The engines' loops name their steps (``run-trial``, ``es-step``, ``meta-agent``, ...) and hand
the step's function to the runner; the runner runs it as this task under the step's name, so
the UI shows one task per trial, ES step block, checkpoint or generation step.

Retries are declared here, per step: pure computation does not retry (it would fail the same
way); the executor set-up talks to a container engine and retries with back-off, except when the
parent's patch does not apply (``PatchError``: it never will). The MetaAgent
and TaskAgent do not retry as tasks: their LLM calls retry inside the gateway with back-off, and a
MetaAgent run again on a half-edited workspace would not be the same step. A trial retries as
often as ``tune(trial_retries=...)`` says.

A step the loop gives a ``key`` runs as the kept variant: its result is persisted in Prefect's
result storage (``$HYPERFUNC_HOME/prefect/storage`` by default; any Prefect result storage block,
e.g. S3, when several machines must share it) under that key, and a retried flow run that reaches
the same key gets the stored result back (a ``Cached`` task run) without running the step's body.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from prefect import Task, task
from prefect.states import Completed

from hyperfunc_core.executors.base import PatchError
from hyperfunc_core.validation import InvalidInput
from tasks.carry import Carried, unwrap

STEP_RETRIES: dict[str, tuple[int, list[float]]] = {  # step -> (retries, delays in seconds)
    "run-trial": (0, [0.0]),
    "es-step": (0, [0.0]),
    "es-population-shard": (0, [0.0]),
    "es-checkpoint": (0, [0.0]),
    "select-parent": (0, [0.0]),
    "setup-executor": (2, [2.0, 10.0]),
    "meta-agent": (0, [0.0]),
    "evaluate": (0, [0.0]),
    "archive": (0, [0.0]),
    "test-best": (0, [0.0]),  # its TaskAgent calls retry in the gateway; test.json keeps a finished one
}


def _worth_retrying(task: Task, task_run: Any, state: Any) -> bool:
    """A failure that can go differently next time: not a patch that does not apply."""
    return not isinstance(state.data, PatchError)


def _given_key(context: Any, parameters: dict[str, Any]) -> str | None:
    """The cache key is the one the loop gave: small, stable across retries, unique to the run."""
    return parameters["key"]


def _run_step(
    fn: Carried[Callable[..., Any]],
    args: Carried[tuple],
    label: str,
    note: Carried[Callable[[Any], str] | None],
    key: str | None = None,
) -> Any:
    """``fn(*args)``; with ``note``, its state's message describes the result (a trial's value)."""
    result = unwrap(fn)(*unwrap(args))
    describe = unwrap(note)
    return Completed(message=describe(result), data=result) if describe is not None else result


step_task = task(
    _run_step,
    name="step",
    task_run_name="{label}",
    persist_result=False,
    cache_policy=None,
    retry_condition_fn=_worth_retrying,
)
kept_step_task = task(
    _run_step,
    name="step",
    task_run_name="{label}",
    persist_result=True,
    cache_key_fn=_given_key,
    retry_condition_fn=_worth_retrying,
)


@lru_cache(maxsize=None)
def step_task_for(step: str, retries: int | None = None, kept: bool = False) -> Task:
    """The task for ``step``, with its declared retries (or ``retries``, where the caller says);
    ``kept``: its result persisted and reused under the key it is called with."""
    if step not in STEP_RETRIES:
        raise InvalidInput(f"step: expected one of {', '.join(STEP_RETRIES)}, got {step!r}")
    declared, delays = STEP_RETRIES[step]
    count = declared if retries is None else retries
    base = kept_step_task if kept else step_task
    return base.with_options(name=step, retries=count, retry_delay_seconds=delays if count else 0)
