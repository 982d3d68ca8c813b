"""The sweep loop: ask the strategy, claim a trial, run it, tell the strategy, repeat.

``prepare_sweep`` validates every argument before any trial runs. ``Sweep.run`` hands each
trial to a ``StepRunner`` (``hyperfunc_core.steps``): inside the ``tune`` flow each trial is a
task; ``InlineRunner`` runs them on a thread pool (the benchmarks' no-orchestration baseline).
A resumed study replays its finished trials into the strategy and never runs them again.
"""

from __future__ import annotations

import concurrent.futures as cf
import inspect
import logging
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperfunc_core.steps import StepRunner
from hyperfunc_core.tuning.goals import Goals
from hyperfunc_core.tuning.known_points import enqueued_points, warm_start_trials
from hyperfunc_core.tuning.pruners import make_pruner
from hyperfunc_core.tuning.repeats import RepeatedPoints
from hyperfunc_core.tuning.space import Space
from hyperfunc_core.tuning.spec import objective_and_space, sweep_spec
from hyperfunc_core.tuning.strategies import make_strategy
from hyperfunc_core.tuning.strategies.base import Suggestion, TrialRecord
from hyperfunc_core.tuning.study_store import open_store
from hyperfunc_core.tuning.trial_runner import TrialSetup, objective_bytes, trial_note, trial_step
from hyperfunc_core.validation import InvalidInput

log = logging.getLogger("hyperfunc.tuning")

DEFAULT_MAX_TRIALS = 50
WAIT_FOR_OTHERS_S = 1.0  # how often a full study's sweep looks at trials other processes still run


@dataclass
class Sweep:
    setup: TrialSetup
    study_name: str
    max_trials: int
    max_concurrent: int
    max_time_s: float | None
    show_progress: bool = False
    show_summary: bool = False
    recovered: int = 0
    replayed: int = 0
    warm_started: int = 0  # another study's trials the strategy learnt from first
    queue: list[dict] = field(default_factory=list)  # enqueued points still to run, before any ask
    spec: dict = field(default_factory=dict)  # what a worker needs to run the study again (tuning/spec.py)
    started_at: float = field(default_factory=time.monotonic)

    # -- the loop --------------------------------------------------------------------
    def run(
        self,
        runner: StepRunner,
        on_progress: Callable[["Sweep", list[TrialRecord], int], None] | None = None,
        trial_retries: int = 0,
    ) -> dict:
        """Ask, claim, run (``runner``), tell, until the strategy, the budget or the clock says stop."""
        strategy, store = self.setup.strategy, self.setup.store

        def submit(trial: TrialRecord) -> cf.Future:
            return runner.submit(
                "run-trial",
                trial_step,
                self.setup,
                trial,
                label=f"trial-{trial.number}",
                retries=trial_retries,
                note=trial_note,
            )

        pending: dict[cf.Future, TrialRecord] = {}
        deadline = self.started_at + self.max_time_s if self.max_time_s else None
        refused = 0
        claimed = _counted(store)  # local count; `claim` stays the arbiter when processes share a study
        display = _Display(self) if self.show_progress else None
        repeats = RepeatedPoints(self.setup.space, strategy, store.trials())
        finished_now: list[TrialRecord] = []
        full = False
        try:
            while True:
                out_of_time = deadline is not None and time.monotonic() >= deadline
                while (
                    not out_of_time
                    and len(pending) < self.max_concurrent
                    and claimed < self.max_trials
                    and (self.queue or not strategy.exhausted)
                    and not repeats.used_up
                ):
                    if self.queue:
                        suggestion = Suggestion(self.queue.pop(0), {"source": "enqueued"}, unique=True)
                    else:
                        suggestion = strategy.ask()
                    if suggestion is None:
                        break
                    if repeats.answered_now(suggestion):
                        continue
                    key = self.setup.space.key(suggestion.params) if suggestion.unique else None
                    trial = store.claim(suggestion.params, suggestion.info, key, self.max_trials)
                    if trial is None:
                        if key is None or _counted(store) >= self.max_trials:
                            full = True  # the study is full, unless another process's trial never finishes
                            break
                        refused += 1  # another process runs this point; ask for the next one
                        if refused > 10_000:
                            break
                        continue
                    claimed += 1
                    strategy.started(trial)
                    repeats.started(trial)
                    pending[submit(trial)] = trial
                if not pending:
                    if not full or out_of_time or not store.running_elsewhere():
                        break
                    # Full, with trials of other processes still running: wait for them; one whose process
                    # died is reclaimed (interrupted) and its place in the budget claimed here.
                    time.sleep(WAIT_FOR_OTHERS_S)
                    store.recover_interrupted()
                    claimed = _counted(store)
                    full = claimed >= self.max_trials
                    continue
                done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
                for future in done:
                    trial = pending.pop(future)
                    try:
                        finished = future.result()
                    except Exception as exc:  # noqa: BLE001 - the orchestrator failed the trial itself
                        trial.state, trial.error = "failed", f"{type(exc).__name__}: {exc}"
                        store.finish(trial)
                        finished = trial
                    strategy.tell(finished)
                    repeats.finished(finished)
                    finished_now.append(finished)
                if on_progress is not None:
                    on_progress(self, finished_now, len(pending))
                if display is not None:
                    display.update(finished_now, len(pending))
        finally:
            if display is not None:
                display.close()
        result = summarize(store.trials(), self.setup.goals, self.study_name, self.setup.space)
        result["elapsed_s"] = time.monotonic() - self.started_at
        result["resumed_trials"] = self.replayed
        result["warm_start_trials"] = self.warm_started
        result["notes"] = self.setup.strategy.notes() + [n for n in [repeats.note()] if n]
        policy = self.setup.policy
        if policy is not None:
            result["early_stopping"] = {
                "policy": policy.describe(),
                "metric": policy.metric,
                "pruned": sum(t["info"].get("pruned_by") == "early stopping policy" for t in result["trials"]),
                "reports": sum(len(r) for r in store.reports().values()),  # the steps spent, pruned trials' too
                "blind": self.setup.policy_blind(),
            }
        if self.show_summary:
            print_summary(result)
        return result


def _counted(store: Any) -> int:
    """Trials that count against max_trials: all but those a crash interrupted (as `claim` counts)."""
    return sum(t.state != "interrupted" for t in store.trials())


def prepare_sweep(
    objective: Callable[..., Any],
    space: dict,
    *,
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
    seed: int | None = None,
    show_progress: bool = False,
    show_summary: bool = False,
) -> Sweep:
    """Check every argument, open the study and rebuild the strategy from its finished trials."""
    if not callable(objective):
        raise InvalidInput(f"objective: expected a callable objective(ctx, **params), got {objective!r}")
    goals = Goals.parse(metric, mode, constraints)
    metric, mode = goals.metrics[0], goals.modes[0]  # the value pruners, plots and one-objective strategies use
    if executor not in ("thread", "process"):
        raise InvalidInput(f"executor: expected 'thread' or 'process', got {executor!r}")
    if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 1:
        raise InvalidInput(f"max_concurrent: expected an integer >= 1, got {max_concurrent!r}")
    if max_trials is not None and (isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1):
        raise InvalidInput(f"max_trials: expected an integer >= 1 or None, got {max_trials!r}")
    for name, value in (("max_time_s", max_time_s), ("trial_timeout_s", trial_timeout_s)):
        if value is not None and (not isinstance(value, (int, float)) or value <= 0 or math.isnan(value)):
            raise InvalidInput(f"{name}: expected a positive number of seconds or None, got {value!r}")
    if executor == "process":
        try:
            objective_bytes(objective)
        except Exception as exc:  # noqa: BLE001
            raise InvalidInput(
                f"objective: executor='process' needs a function cloudpickle can ship to a process ({exc})"
            ) from None
    parsed = Space(space)
    queued = enqueued_points(enqueue, parsed, seed)
    learned, outside = (
        warm_start_trials(warm_start, storage, parsed, goals.stored_metric, goals.stored_mode)
        if warm_start is not None
        else ([], 0)
    )
    built = make_strategy(strategy, parsed, goals=goals, seed=seed, kwargs=strategy_kwargs)
    policy = make_pruner(early_stopping, early_stopping_kwargs, metric, mode)
    store = open_store(storage)
    if study_name is not None and (not isinstance(study_name, str) or not study_name.strip()):
        raise InvalidInput(f"study_name: expected a non-empty name or None, got {study_name!r}")
    derived = default_study_name(objective)
    name = study_name or derived or f"study_{uuid.uuid4().hex[:8]}"
    spec = sweep_spec(
        objective,
        parsed,
        dict(
            strategy=strategy,
            strategy_kwargs=strategy_kwargs,
            max_trials=max_trials,
            max_concurrent=max_concurrent,
            max_time_s=max_time_s,
            metric=list(goals.metrics) if goals.several else metric,
            mode=list(goals.modes) if goals.several else mode,
            constraints=list(goals.constraints) or None,
            early_stopping=early_stopping,
            early_stopping_kwargs=early_stopping_kwargs,
            executor=executor,
            trial_timeout_s=trial_timeout_s,
            seed=seed,
            enqueue=enqueue,
            warm_start=warm_start,
        ),
    )
    store.open(
        name,
        metric=goals.stored_metric,
        mode=goals.stored_mode,
        strategy=built.name,
        space=parsed.describe(),
        settings={
            "strategy_kwargs": {k: v for k, v in (strategy_kwargs or {}).items() if not callable(v)},
            "seed": seed,
            "fixed": _jsonable(parsed.fixed),
            "spec": spec,
        },
    )
    sweep = Sweep(
        setup=TrialSetup(objective, parsed, store, metric, mode, built, policy, executor, trial_timeout_s, goals),
        study_name=name,
        max_trials=max_trials or built.max_trials_hint() or DEFAULT_MAX_TRIALS,
        max_concurrent=max_concurrent,
        max_time_s=max_time_s,
        show_progress=show_progress,
        show_summary=show_summary,
        spec=spec,
    )
    for trial in learned:  # another study's trials first, as if this one had run them
        built.tell(trial)
    sweep.warm_started = len(learned)
    if outside:
        log.info("warm start from %r: %d of its trials lie outside this space, left out", warm_start, outside)
    sweep.recovered = store.recover_interrupted()
    ran = set()
    for trial in store.trials():
        ran.add(parsed.key(trial.params))
        if trial.finished:
            built.tell(trial)
            sweep.replayed += 1
    sweep.queue = [point for point in queued if parsed.key(point) not in ran]  # a resumed study runs none twice
    _say_where(sweep, storage, lasting=study_name is not None or derived is not None)
    return sweep


def default_study_name(objective: Callable[..., Any]) -> str | None:
    """``module.name`` of a named function (a script's by its file name), so running the same sweep
    again finds its study; None for a lambda or a closure, which have no name that stays."""
    qualname = getattr(objective, "__qualname__", None) or type(objective).__qualname__
    if "<" in qualname:  # <lambda>, <locals>
        return None
    module = getattr(objective, "__module__", None) or type(objective).__module__
    if module == "__main__":
        try:
            module = Path(inspect.getfile(objective)).stem
        except TypeError:
            return None
    return f"{module}.{qualname}"


def _say_where(sweep: "Sweep", storage: Any, lasting: bool) -> None:
    """One line: the study is new or resumed (with how many finished trials it reuses), and where it lives."""
    where = "in memory (pass storage= to keep it)" if storage is None else "in its storage"
    if sweep.replayed or sweep.recovered:
        said = f"resuming study {sweep.study_name!r} {where}: {sweep.replayed} finished trials reused"
    else:
        said = f"starting study {sweep.study_name!r} {where}"
    if storage is not None and not lasting:
        said += "; its objective has no lasting name (a lambda or closure): pass study_name= to resume it later"
    log.info(said)
    if sweep.show_progress or sweep.show_summary:  # a person is watching (the CLI): say it on the screen too
        from hyperfunc_core.live_display import output_console

        output_console().print(said, highlight=False, markup=False)


def reopen_sweep(study_name: str, storage: str, add_trials: int | None = None, spec: dict | None = None) -> Sweep:
    """The sweep of a stored study, rebuilt from its spec (a retried or scheduled flow run, a worker
    in another process); with ``add_trials``, room for that many trials beyond those it counts.
    A study not yet in ``storage`` is created from ``spec`` (a deployment's parameters)."""
    from hyperfunc_core.jobs import check_added
    from hyperfunc_core.tuning.study_store import find_study

    check_added("add_trials", add_trials)
    study = find_study(storage, study_name)
    if study is None and spec is None:
        raise InvalidInput(f"study: no study named {study_name!r} in {storage}, and no spec to create it from")
    if study is not None:
        spec = (study.settings or {}).get("spec")
    if not spec:
        raise InvalidInput(f"study {study_name!r}: was created before studies kept their spec; run it from its code")
    objective, space = objective_and_space(spec, study_name)
    sweep = prepare_sweep(objective, space, **(spec.get("options") or {}), storage=storage, study_name=study_name)
    if add_trials is not None:
        sweep.max_trials = _counted(sweep.setup.store) + add_trials
    return sweep


# -- results -------------------------------------------------------------------------
def trial_dict(trial: TrialRecord, space: Space) -> dict:
    """A finished trial for results and tables, with the nested parameters the objective got."""
    return {
        "trial_id": trial.trial_id,
        "number": trial.number,
        "state": trial.state,
        "params": space.unflatten(trial.params),
        "score": trial.score,
        "value": trial.value,
        "metrics": trial.metrics,
        "artifacts": trial.artifacts,
        "info": {k: v for k, v in trial.info.items() if not k.startswith("_")},
        "error": trial.error,
        "duration_s": trial.duration_s,
    }


def _jsonable(values: dict) -> dict:
    return {k: v for k, v in values.items() if isinstance(v, (str, int, float, bool, type(None), list, dict))}


def sweep_output_dir(study_name: str) -> Path:
    """Where a study's report and plots go: ``$HYPERFUNC_HOME/runs/tuning/<study>``."""
    from hyperfunc_core.settings import get_settings

    return get_settings().outputs_dir / "tuning" / re.sub(r"[^A-Za-z0-9_.-]+", "-", study_name)


def summarize(trials: list[TrialRecord], goals: Goals, study_name: str, space: Space) -> dict:
    """The seed's result dictionary: ``best`` plus every trial and counts by state; with several
    objectives the Pareto front (``pareto``, by first objective) and ``best`` its first trial."""
    metric, mode = goals.metrics[0], goals.modes[0]
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    usable = [t for t in trials if t.usable]
    front = goals.pareto(usable) if goals.several else []
    if goals.several:
        best = front[0] if front else None
    else:
        best = (max if mode == "max" else min)(usable, key=lambda t: t.value) if usable else None
    result = {
        "best": None
        if best is None
        else {
            "trial_id": best.trial_id,
            "params": space.unflatten(best.params),
            "score": best.score,
            "metrics": best.metrics,
            "value": best.value,
        },
        "trials": [trial_dict(t, space) for t in trials],
        "study_name": study_name,
        "metric": metric,
        "mode": mode,
        "counts": counts,
    }
    if goals.several:
        result["metrics"], result["modes"] = list(goals.metrics), list(goals.modes)
        result["pareto"] = [trial_dict(t, space) for t in front]
    if goals.constraints:
        result["constraints"] = list(goals.constraints)
        result["infeasible"] = sum(t.state == "complete" and not t.info.get("feasible", True) for t in trials)
    return result


def print_summary(result: dict, top: int = 10) -> None:
    from rich.markup import escape
    from rich.table import Table

    from hyperfunc_core.live_display import output_console

    mode = result["mode"]
    if "pareto" in result:
        ranked = result["pareto"][:top]
        title = f"study {result['study_name']}: Pareto front ({len(result['pareto'])} trials), first {len(ranked)}"
        columns = [f"{m} ({d})" for m, d in zip(result["metrics"], result["modes"])]
    else:
        ranked = sorted(
            (t for t in result["trials"] if t["state"] == "complete" and t["info"].get("feasible", True)),
            key=lambda t: t["value"],
            reverse=mode == "max",
        )[:top]
        title = f"study {result['study_name']}: top {len(ranked)} by {result['metric']} ({mode})"
        columns = [result["metric"]]
    table = Table(title=title)
    for column in ("#", "trial", *columns, "params"):
        table.add_column(column)
    for t in ranked:
        values = t["info"].get("values") or [t["value"]]
        table.add_row(str(t["number"]), t["trial_id"], *(f"{v:.6g}" for v in values), str(t["params"]))
    out = output_console()
    out.print(table)
    out.print(f"trials by state: {result['counts']}")
    if result.get("constraints"):
        out.print(
            f"{result['infeasible']} complete trials broke a constraint ({', '.join(result['constraints'])} <= 0)"
        )
    for note in result.get("notes") or []:
        out.print(escape(note), highlight=False)
    stopping = result.get("early_stopping")
    if stopping:
        out.print(
            f"early stopping ({stopping['policy']}): pruned {stopping['pruned']} of {len(result['trials'])} trials, "
            f"{stopping['reports']} reports in all"
        )
        if stopping["blind"]:
            out.print(f"[yellow]{escape(stopping['blind'])}[/]", highlight=False)


class _Display:
    """The sweep's live bar: trials done/total, ETA, running, failed, pruned and the best value so far."""

    def __init__(self, sweep: Sweep) -> None:
        from hyperfunc_core.live_display import LiveDisplay

        self.sweep = sweep
        self.live = LiveDisplay(f"study {sweep.study_name}", sweep.max_trials, "trials", done=sweep.replayed)
        # Counted as the strategy hears of trials (replayed ones first), not recounted at each update:
        # a sweep of thousands of trials would make that quadratic.
        self.seen, self.counts, self.best = 0, {"failed": 0, "pruned": 0}, None
        self.update([], 0)

    def update(self, finished: list[TrialRecord], running: int) -> None:
        from hyperfunc_core.live_display import best_text

        trials, pick = self.sweep.setup.strategy.trials, max if self.sweep.setup.mode == "max" else min
        for t in trials[self.seen :]:
            if "repeat_of" in t.info:  # answered from a trial already counted
                continue
            if t.state in self.counts:
                self.counts[t.state] += 1
            elif t.state == "complete" and t.value is not None:
                self.best = t.value if self.best is None else pick(self.best, t.value)
        self.seen = len(trials)
        counts, best = self.counts, self.best
        status = f"running {running} | failed {counts['failed']} | pruned {counts['pruned']} | {best_text(best)}"
        blind = self.sweep.setup.policy_blind()
        if blind:
            status += " | [yellow]early stopping cannot see its metric[/]"
        self.live.update(self.sweep.replayed + len(finished), status)

    def close(self) -> None:
        self.live.close()
