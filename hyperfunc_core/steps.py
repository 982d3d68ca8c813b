"""The seam between an engine's loop and what runs its steps.

Each engine's loop (the sweep, ES training, the generation loop) is written once, against
``StepRunner``: ``run`` a step and wait, ``submit`` a step and get a future, run a ``stage`` (an
ES epoch, a generation: a group of steps). The Prefect runner (``flows/step_runner.py``) makes
each step a task and each stage a subflow; ``InlineRunner`` runs them in the caller, for the
benchmarks' no-orchestration baseline and ``orchestrate=False``. The loop cannot tell them apart.

A step may carry a ``key``: a name for its result that stays the same when its run is retried
(the run's identity and the step's place in it). The Prefect runner persists a keyed step's result
and, when a retried flow run reaches the same key, returns it without running the step again;
``InlineRunner`` keeps nothing. Loops key only the steps whose results their own stores do not
already keep (a trial is recorded in its study, a generation's MetaAgent and evaluation in its
metadata, inside the step itself); ES step blocks within an unfinished epoch are such steps.

A step whose failure is an outcome the loop records (a failed trial, a generation whose agent
broke) raises ``StepFailed`` carrying that outcome: the runner marks the step failed where it
can (a Failed task or flow run), retries it where retries are declared, and hands the outcome
back to the loop, which goes on.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class StepFailed(Exception):
    """A step failed in a way the loop records and survives; ``outcome`` is what it records."""

    def __init__(self, message: str, outcome: Any) -> None:
        super().__init__(message)
        self.outcome = outcome

    def __reduce__(self):  # picklable, so it crosses process-based task runners intact
        return (type(self), (str(self), self.outcome))


class StepRunner(Protocol):
    """``retries``: attempts after a ``StepFailed`` (None: the step's declared policy); ``note``: a
    one-line description of the result, for runners that show one (a trial's value); ``key``: the
    result's name across retries of the run, for runners that keep results."""

    def run(
        self,
        step: str,
        fn: Callable[..., T],
        *args: Any,
        label: str,
        retries: int | None = None,
        note: Callable[[T], str] | None = None,
        key: str | None = None,
    ) -> T:
        """Run ``fn(*args)`` as step ``step`` (shown as ``label``) and return its result."""

    def submit(
        self,
        step: str,
        fn: Callable[..., T],
        *args: Any,
        label: str,
        retries: int | None = None,
        note: Callable[[T], str] | None = None,
        key: str | None = None,
    ) -> cf.Future[T]:
        """Start ``fn(*args)`` as step ``step``; the future has its result (or its ``StepFailed`` outcome)."""

    def stage(self, stage: str, fn: Callable[..., T], *args: Any, label: str) -> T:
        """Run ``fn(*args)``, a group of steps, as one unit (a subflow under Prefect)."""


class InlineRunner:
    """Every step in the caller; submitted steps on a thread pool of ``workers``."""

    def __init__(self, workers: int = 1) -> None:
        self._pool = cf.ThreadPoolExecutor(max(1, workers), thread_name_prefix="step")

    def run(
        self,
        step: str,
        fn: Callable[..., T],
        *args: Any,
        label: str,
        retries: int | None = None,
        note: Callable[[T], str] | None = None,
        key: str | None = None,
    ) -> T:
        return attempt(fn, args, retries or 0)

    def submit(
        self,
        step: str,
        fn: Callable[..., T],
        *args: Any,
        label: str,
        retries: int | None = None,
        note: Callable[[T], str] | None = None,
        key: str | None = None,
    ) -> cf.Future[T]:
        return self._pool.submit(attempt, fn, args, retries or 0)

    def stage(self, stage: str, fn: Callable[..., T], *args: Any, label: str) -> T:
        return attempt(fn, args, 0)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "InlineRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def attempt(fn: Callable[..., T], args: tuple, retries: int) -> T:
    """``fn(*args)``, again up to ``retries`` times while it raises ``StepFailed``; then its outcome."""
    for left in range(retries, -1, -1):
        try:
            return fn(*args)
        except StepFailed as failed:
            if not left:
                return failed.outcome
    raise AssertionError("unreachable")
