"""Running one trial: the objective in this thread or in a fresh process, its reports
streamed to storage, early stopping applied, and any failure turned into a record.

A trial that raises, returns NaN, names a missing metric or overruns its time limit ends
as ``failed`` with its error; one stopped by a policy ends as ``pruned``. Nothing here
raises for a bad trial, so the sweep always goes on.
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from hyperfunc_core.observability import telemetry
from hyperfunc_core.steps import StepFailed
from hyperfunc_core.tuning.goals import Goals
from hyperfunc_core.tuning.objective import NonFiniteValue, TrialContext, TrialPruned, as_result
from hyperfunc_core.tuning.pruners import Pruner, StudyReports, blind_text
from hyperfunc_core.tuning.space import Space
from hyperfunc_core.tuning.strategies.base import Strategy, TrialRecord
from hyperfunc_core.tuning.study_store import StudyStore

_WARN_LOCK = threading.Lock()


@dataclass
class TrialSetup:
    """Everything a trial needs besides its record; one per sweep."""

    objective: Callable[..., Any]
    space: Space
    store: StudyStore
    metric: str
    mode: str
    strategy: Strategy
    policy: Pruner | None = None  # the user's early stopping
    executor: str = "thread"
    timeout_s: float | None = None
    goals: Goals | None = None  # None: the one objective metric/mode name
    # What the trials of this process reported, for a policy that never sees its value: the keys, and
    # whether any report held the watched one.
    reported_keys: set[str] = field(default_factory=set)
    policy_saw_metric: bool = False
    policy_warned: bool = False

    def __post_init__(self) -> None:
        self.goals = self.goals or Goals.parse(self.metric, self.mode)
        own = self.strategy.pruner(self.metric)
        self.pruners: list[tuple[str, Pruner]] = [(f"strategy {self.strategy.name}", own)] if own else []
        if self.policy is not None:
            self.pruners.append(("early stopping policy", self.policy))

    def note_reports(self, reports: list[tuple[int, dict]]) -> None:
        """After a trial: remember what it reported, and warn once when the policy is blind."""
        if self.policy is None or not reports:
            return
        for _, metrics in reports:
            self.reported_keys.update(metrics)
            self.policy_saw_metric = self.policy_saw_metric or self.policy.metric in metrics
        blind = self.policy_blind()
        with _WARN_LOCK:  # trials finish on several threads at once: one warning per sweep
            warn, self.policy_warned = bool(blind) and not self.policy_warned, self.policy_warned or bool(blind)
        if warn:
            logging.getLogger("hyperfunc.tuning").warning(blind)

    def policy_blind(self) -> str | None:
        """Why the early-stopping policy can stop no trial, once trials reported without its value."""
        if self.policy is None or self.policy_saw_metric or not self.reported_keys:
            return None
        return blind_text(self.policy, self.reported_keys)


def _error_text(exc: BaseException) -> str:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
    return f"{type(exc).__name__}: {exc}\n{tb}"[:4000]


class _Reporter:
    """Stores each report and asks the sweep's pruners whether the trial should stop."""

    def __init__(self, setup: TrialSetup, trial: TrialRecord) -> None:
        self.setup, self.trial = setup, trial
        self.reports: list[tuple[int, dict]] = []
        self.stored: list[dict] = []  # the same reports as storage holds them, for pruners
        self.stopped_by: str | None = None

    def __call__(self, step: int, metrics: dict) -> bool:
        self.setup.store.report(self.trial, step, metrics)
        self.reports.append((step, metrics))
        self.stored.append(dict(metrics, step=step))
        if self.stopped_by:
            return True
        due = [(label, p) for label, p in self.setup.pruners if p.due(self.trial, self.stored)]
        if due:  # only then read the study: a pruner decides from what storage holds
            study = StudyReports(self.setup.store.trials(), self.setup.store.reports())
            self.stopped_by = next((label for label, p in due if p.prune(self.trial, self.stored, study)), None)
        return self.stopped_by is not None


def run_trial(setup: TrialSetup, trial: TrialRecord) -> TrialRecord:
    """Run the objective for ``trial``, store the outcome, and return the finished record."""
    with telemetry.span(
        "tuning.trial", trial=trial.number, trial_id=trial.trial_id, strategy=setup.strategy.name
    ) as current:
        finished = _run_trial(setup, trial)
        telemetry.set_attributes(
            current,
            state=finished.state,
            value=finished.value,
            error=(finished.error or "").splitlines()[0] if finished.error else None,
        )
    telemetry.record("trial", setup.strategy.name, finished.duration_s or 0.0, finished.state != "failed")
    return finished


def trial_step(setup: TrialSetup, trial: TrialRecord) -> TrialRecord:
    """The sweep's step: ``run_trial``, raising ``StepFailed`` (with the recorded trial) when it failed,
    so the runner shows the trial as failed (and retries it where retries are asked for)."""
    finished = run_trial(setup, trial)
    if finished.state == "failed":
        last = (finished.error or "").strip().splitlines()[-1:] or ["no error text"]
        raise StepFailed(f"trial {trial.number} failed: {last[0]}", finished)
    return finished


def trial_note(trial: TrialRecord) -> str:
    """What a trial's task state says: its state, value and parameters."""
    value = "n/a" if trial.value is None else f"{trial.value:.6g}"
    return f"{trial.state}: value {value}; params {trial.params}"


def _run_trial(setup: TrialSetup, trial: TrialRecord) -> TrialRecord:
    started = time.perf_counter()
    params = setup.space.unflatten(trial.params)
    reporter = _Reporter(setup, trial)
    try:
        if setup.executor == "process":
            returned = _run_in_process(setup, trial, params, reporter)
        else:
            returned = _run_in_thread(setup, trial, params, reporter)
        result = as_result(returned)
        trial.score = result.score
        trial.metrics, trial.artifacts = result.metrics, result.artifacts
        setup.goals.measure(trial, result, reporter.reports)
        if not math.isfinite(trial.score):
            raise NonFiniteValue("score", trial.score)
        trial.state = "pruned" if reporter.stopped_by else "complete"
        if reporter.stopped_by:
            trial.info["pruned_by"] = reporter.stopped_by
    except TrialPruned:
        trial.state = "pruned"
        trial.info["pruned_by"] = reporter.stopped_by or "objective"
    except Exception as exc:  # noqa: BLE001 - a failing trial is recorded, never fatal
        if isinstance(exc, NonFiniteValue):  # kept with the trial; no strategy ever sees it as a result
            trial.info["non_finite_value"] = str(exc.value)
            trial.score = None
        trial.state, trial.error = "failed", _error_text(exc)
        trial.value = None
    trial.duration_s = time.perf_counter() - started
    setup.store.finish(trial)
    setup.note_reports(reporter.reports)
    return trial


def _run_in_thread(setup: TrialSetup, trial: TrialRecord, params: dict, reporter: _Reporter) -> Any:
    ctx = TrialContext(trial.trial_id, trial.number, params, on_report=reporter)
    if not setup.timeout_s:
        return setup.objective(ctx, **params)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = setup.objective(ctx, **params)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"trial-{trial.number}", daemon=True)
    worker.start()
    worker.join(setup.timeout_s)
    if worker.is_alive():
        ctx.stop()  # a thread cannot be killed: ask it to stop and stop waiting for it
        raise TimeoutError(
            f"trial overran its {setup.timeout_s:g} s limit (the thread was asked to stop via should_stop())"
        )
    if "error" in box:
        raise box["error"]
    return box["value"]


class _ProcessContext(TrialContext):
    """The ``ctx`` inside a trial process: reports go to the parent, stop comes from it."""

    def __init__(self, trial_id: str, number: int, params: dict, outbox: Any, stop_event: Any) -> None:
        super().__init__(trial_id, number, params)
        self._outbox, self._stop_event = outbox, stop_event

    def report(self, step: int | None = None, **metrics: Any) -> None:
        super().report(step, **metrics)
        step, clean = self.reports[-1]
        self._outbox.put(("report", step, clean))

    def should_stop(self) -> bool:
        return self._stop_event.is_set()


def _process_main(
    objective_blob: bytes, params: dict, trial_id: str, number: int, outbox: Any, stop_event: Any
) -> None:
    ctx = _ProcessContext(trial_id, number, params, outbox, stop_event)
    try:
        objective = cloudpickle.loads(objective_blob)
        outbox.put(("result", as_result(objective(ctx, **params)), None))
    except TrialPruned:
        outbox.put(("pruned", None, None))
    except BaseException as exc:  # noqa: BLE001 - sent to the parent
        outbox.put(("error", None, _error_text(exc)))


def objective_bytes(objective: Callable[..., Any]) -> bytes:
    """The objective by value where it must be (``__main__``, notebooks, closures), by reference elsewhere."""
    return cloudpickle.dumps(objective)


@functools.lru_cache(maxsize=1)
def _process_context() -> Any:
    """A forkserver with this module preloaded: a trial process starts in milliseconds, not a
    fresh interpreter's second, and never inherits the parent's threads. Spawn where fork is absent."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def _run_in_process(setup: TrialSetup, trial: TrialRecord, params: dict, reporter: _Reporter) -> Any:
    mp = _process_context()
    outbox, stop_event = mp.Queue(), mp.Event()
    proc = mp.Process(
        target=_process_main,
        args=(objective_bytes(setup.objective), params, trial.trial_id, trial.number, outbox, stop_event),
        daemon=True,
    )
    proc.start()
    deadline = time.monotonic() + setup.timeout_s if setup.timeout_s else None
    try:
        while True:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"trial overran its {setup.timeout_s:g} s limit; its process was terminated")
            try:
                kind, first, second = outbox.get(timeout=0.05)
            except queue.Empty:
                if not proc.is_alive() and outbox.empty():
                    raise RuntimeError(f"trial process exited with code {proc.exitcode} before returning a result")
                continue
            if kind == "report":  # (step, metrics)
                if reporter(first, second):
                    stop_event.set()
            elif kind == "result":  # (ObjectiveResult, None)
                return first
            elif kind == "pruned":
                raise TrialPruned()
            else:  # ("error", None, traceback text)
                raise RuntimeError(f"objective raised in its process: {second}")
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(5)
