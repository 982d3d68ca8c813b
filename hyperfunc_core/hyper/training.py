"""ES training of a HyperSystem: steps grouped into epochs, checkpointed at each epoch's end.

A step is ask -> one ``evaluate_population`` on a minibatch -> tell. The ES noise of step
``s`` comes from (seed, s) and the minibatch order of epoch ``e`` from (seed, e), so a run
resumed from its last checkpoint ends with exactly the θ an uninterrupted run would.

``train`` is the loop, written once against a ``StepRunner``: under Prefect (``optimize``'s
default, through ``hyperfunc_core.launch``) each epoch is a subflow of step tasks closed by a
checkpoint task; ``orchestrate=False`` runs the same loop inline.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import torch

from hyperfunc_core.es import ESConfig, Layout, OpenAIES, ask, init_state, tell
from hyperfunc_core.es.strategy import ESState, current_sigma
from hyperfunc_core.hyper.checkpoints import CheckpointStore, Resumed
from hyperfunc_core.hyper.placement import examples_on
from hyperfunc_core.observability import telemetry
from hyperfunc_core.reports import training_report
from hyperfunc_core.steps import StepRunner
from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:
    from hyperfunc_core.hyper.system import Example, HyperSystem


@dataclass
class TrainingJob:
    """Everything a training flow needs; built and checked by ``prepare_training``."""

    system: "HyperSystem"
    train: list["Example"]
    metric_fn: Callable[[Any, Any], float]
    config: ESConfig
    layout: Layout
    run_name: str
    total_steps: int
    steps_per_epoch: int
    val: list["Example"] | None
    environment_state: Any
    store: CheckpointStore
    resumed: Resumed
    keep: str = "final"
    steps_per_task: int = 1
    history: list[dict] = field(default_factory=list)
    population_shards: int = 1  # >1: each step's population is scored as that many tasks
    task_runner: Any = "thread"  # where those tasks run (flows/runners.py)
    show_progress: bool = False  # a live bar in this terminal (the CLI's; never part of the run's spec)

    @property
    def n_epochs(self) -> int:
        return math.ceil(self.total_steps / self.steps_per_epoch)

    def epoch_steps(self, epoch: int) -> range:
        return range(epoch * self.steps_per_epoch, min(self.total_steps, (epoch + 1) * self.steps_per_epoch))


def prepare_training(
    system: "HyperSystem",
    train: Sequence["Example"],
    metric_fn: Callable,
    *,
    steps: int | None = None,
    steps_per_epoch: int | None = None,
    batch_size: int | None = None,
    strategy: Any = None,
    val: Sequence["Example"] | None = None,
    run_name: str | None = None,
    storage: str | None = None,
    resume: bool = True,
    environment_state: Any = None,
    keep: str = "final",
    steps_per_task: int = 1,
    population_shards: int = 1,
    task_runner: Any = "thread",
    spec: dict | None = None,
) -> TrainingJob:
    """Check every option, register what ``run`` calls, and open (or resume) the run's checkpoints.
    ``spec`` (kept with a new run): how a worker loads the system and data again (``jobs.train_target``);
    by default the run names code a worker cannot load, and only this process can run it."""
    from hyperfunc_core.hyper.system import _check_examples, _check_metric
    from hyperfunc_core.settings import get_settings

    train = examples_on(_check_examples(train), system.device)  # once for the whole run
    _check_metric(metric_fn)
    val = examples_on(_check_examples(val), system.device) if val is not None else None
    system._check_environment(environment_state)
    if keep not in ("final", "best"):
        raise InvalidInput(f"keep: expected 'final' or 'best', got {keep!r}")
    if isinstance(steps_per_task, bool) or not isinstance(steps_per_task, int) or steps_per_task < 1:
        raise InvalidInput(f"steps_per_task: expected an integer >= 1, got {steps_per_task!r}")
    if isinstance(population_shards, bool) or not isinstance(population_shards, int) or population_shards < 1:
        raise InvalidInput(f"population_shards: expected an integer >= 1, got {population_shards!r}")
    config = system.system_optimizer
    if population_shards > config.pop_size:
        raise InvalidInput(f"population_shards: expected at most pop_size ({config.pop_size}), got {population_shards}")
    if batch_size is not None:
        config = replace(config, batch_size=batch_size)
    if strategy is not None:  # validated by ESConfig: a strategy object or its name
        config = replace(config, strategy=strategy)
    total = steps if steps is not None else config.steps
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise InvalidInput(f"steps: expected an integer >= 1, got {total!r}")
    if steps_per_epoch is None:  # one pass over the data in minibatches; full-batch steps in blocks of 10
        steps_per_epoch = math.ceil(len(train) / config.batch_size) if config.batch_size else 10
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise InvalidInput(f"steps_per_epoch: expected an integer >= 1, got {steps_per_epoch!r}")
    system.discover(train, environment_state)  # register every hyperfunction run() calls
    layout = system.trainable_layout()
    if not layout.blocks:
        raise InvalidInput("system: run() calls no hyperfunction with optimize_hparams=True; nothing to train")
    name = run_name or f"es-{type(system).__name__}-{int(time.time())}"
    settings = get_settings()
    store = CheckpointStore(storage, settings.outputs_dir / "es")
    fingerprint = {
        **config.as_dict(),
        "total_steps": total,
        "steps_per_epoch": steps_per_epoch,
        "n_train": len(train),
        "layout": [[b.name, list(b.shape)] for b in layout.blocks],
    }
    del fingerprint["execution"]  # how populations run, not what they compute: free to change on resume
    if fingerprint["strategy"] == OpenAIES().describe():
        del fingerprint["strategy"]  # the default: runs started before strategies existed resume as before
    spec = spec or {"in_process": [f"system {type(system).__name__} instance", "training data", "metric_fn"]}
    resumed = store.open(name, fingerprint, config.seed, resume, spec)
    return TrainingJob(
        system,
        train,
        metric_fn,
        config,
        layout,
        name,
        total,
        steps_per_epoch,
        val,
        environment_state,
        store,
        resumed,
        keep,
        steps_per_task,
        list(resumed.history),
        population_shards,
        task_runner,
    )


def initial_state(job: TrainingJob) -> ESState:
    if job.resumed.state is not None:
        return job.resumed.state.to(job.system.device)
    return init_state(job.config, job.layout, job.layout.flatten(job.system.get_hp_state()))


def minibatch(job: TrainingJob, step: int) -> list["Example"]:
    size = job.config.batch_size
    if not size or size >= len(job.train):
        return job.train
    epoch, k = divmod(step, job.steps_per_epoch)
    gen = torch.Generator().manual_seed(job.config.seed * 7_919 + epoch)
    order = torch.randperm(len(job.train), generator=gen).tolist()
    start = (k * size) % len(job.train)
    picked = (order + order)[start : start + size]
    return [job.train[i] for i in picked]


PopulationEvaluator = Callable[["TrainingJob", torch.Tensor, list], tuple[list[float], list[str | None]]]


def evaluate_candidates(
    job: TrainingJob, candidates: torch.Tensor, examples: list, population: int | None = None
) -> tuple[list[float], list[str | None]]:
    """Scores (and errors) of ``candidates`` (rows of θ) on ``examples``: one batched evaluation.
    Only the strategy's elite of the whole ``population`` (default: these candidates) needs exact
    scores; a shard keeps that many, as all of the elite may fall in one shard."""
    errors: list[str | None] = []
    scores = job.system.evaluate_population(
        candidates,
        examples,
        job.metric_fn,
        environment_state=job.environment_state,
        errors=errors,
        top_k=job.config.algorithm.elite_count(population or len(candidates)),
    )
    return scores, errors


class NonFiniteScores(ValueError):
    """Every candidate of an ES step scored NaN or ±inf: there is no update to make."""


def shards(population: int, count: int) -> list[slice]:
    """``count`` contiguous, near-equal slices of a population (antithetic pairs may fall in different ones)."""
    bounds = [population * k // count for k in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def es_step(
    job: TrainingJob, state: ESState, evaluate: PopulationEvaluator = evaluate_candidates
) -> tuple[ESState, dict]:
    """One ES step: the population for ``state.step`` scored on its minibatch, then the update.

    ``evaluate`` scores the population; the flow passes one that scores shards as tasks."""
    started = time.perf_counter()
    with telemetry.span("es.step", run=job.run_name, step=state.step, pop_size=job.config.pop_size) as current:
        candidates, eps = ask(job.config, job.layout, state)
        scores, errors = evaluate(job, candidates, minibatch(job, state.step))
        finite = [s for s in scores if math.isfinite(s)]
        if not finite:  # nothing to learn from: a broken metric must fail the run, not "finish" with θ unchanged
            first = next((e for e in errors if e), None)
            error = NonFiniteScores(
                f"ES step {state.step}: all {len(scores)} candidates scored non-finite "
                f"({scores[0]!r}{'; first error: ' + first if first else ''}); check metric_fn "
                f"(it must return a finite number, higher is better)"
            )
            job.store.finish(job.resumed.run_id, f"failed: {error}"[:500])
            raise error
        new = tell(job.config, job.layout, state, eps, torch.tensor(scores), candidates)
        telemetry.set_attributes(
            current,
            mean_score=sum(finite) / len(finite) if finite else None,
            failed_candidates=len(scores) - len(finite),
        )
    telemetry.record("es_step", job.run_name, time.perf_counter() - started, True)
    return new, {
        "step": state.step,
        "sigma": current_sigma(job.config, state),
        "mean_score": sum(finite) / len(finite) if finite else -math.inf,
        "best_score": max(finite) if finite else -math.inf,
        "failed_candidates": len(scores) - len(finite),  # raised an error or scored NaN/inf
        "first_error": next((e for e in errors if e), None),
        "seconds": time.perf_counter() - started,
    }


def finish_epoch(job: TrainingJob, state: ESState, epoch: int, step_metrics: list[dict]) -> dict:
    """Score θ after the epoch, checkpoint θ and the optimiser state, and return the epoch's metrics."""
    theta = job.layout.unflatten(state.theta)
    train_score = job.system.evaluate_population(
        [theta], job.train, job.metric_fn, environment_state=job.environment_state
    )[0]
    val_score = (
        job.system.evaluate_population([theta], job.val, job.metric_fn, environment_state=job.environment_state)[0]
        if job.val
        else None
    )
    metrics = {
        "epoch": epoch,
        "steps": state.step,
        "train_score": train_score,
        "val_score": val_score,
        "population_mean": sum(m["mean_score"] for m in step_metrics) / max(1, len(step_metrics)),
        "population_best": max((m["best_score"] for m in step_metrics), default=-math.inf),
        "failed_candidates": sum(m["failed_candidates"] for m in step_metrics),
        "sigma": step_metrics[-1]["sigma"] if step_metrics else None,
        "seconds": sum(m["seconds"] for m in step_metrics),
    }
    metrics = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
    # Each step's population mean and best (on its minibatch), for the per-step curve of the report.
    metrics["step_scores"] = [[m["step"], _finite(m["mean_score"]), _finite(m["best_score"])] for m in step_metrics]
    job.store.save_epoch(job.resumed.run_id, job.run_name, epoch, state, metrics)
    job.history.append(metrics)
    return metrics


def best_epoch(history: list[dict]) -> tuple[int, str, float] | None:
    """The epoch whose θ scored best at its end: on validation where the run has it, else on train
    (full splits, so epochs compare; a candidate's minibatch score does not). (epoch, split, score)."""
    split = "val_score" if any(m.get("val_score") is not None for m in history) else "train_score"
    scored = [(m[split], m["epoch"]) for m in history if m.get(split) is not None]
    if not scored:
        return None
    score, epoch = max(scored, key=lambda pair: (pair[0], -pair[1]))  # the earliest of equal scores
    return epoch, split.removesuffix("_score"), score


def complete(job: TrainingJob, state: ESState) -> dict:
    """Keep the final θ and the best epoch's θ (``final.pt``, ``best.pt``), put the one ``keep``
    names into the system, and close the run."""
    final = job.layout.unflatten(state.theta)
    best = best_epoch(job.history)
    best_theta = final
    if best is not None and best[0] != job.history[-1]["epoch"]:
        try:
            best_theta = job.layout.unflatten(job.store.epoch_state(job.run_name, best[0]).theta)
        except Exception as exc:  # noqa: BLE001 - a checkpoint removed by hand: the run still completes
            logging.getLogger("hyperfunc.es").warning(
                "ES run %r: the checkpoint of its best epoch %s cannot be read (%s); best.pt holds the final θ",
                job.run_name,
                best[0],
                exc,
            )
            best = None
    job.store.save_theta(job.run_name, {n: t.detach().cpu() for n, t in final.items()}, "final")
    job.store.save_theta(job.run_name, {n: t.detach().cpu() for n, t in best_theta.items()}, "best")
    job.system.set_hp_state(best_theta if job.keep == "best" else final)
    job.store.finish(job.resumed.run_id)
    last = job.history[-1] if job.history else {}
    summary = {
        "run_name": job.run_name,
        "epochs": len(job.history),
        "steps": state.step,
        "resumed_from_epoch": job.resumed.next_epoch if job.resumed.state is not None else None,
        "train_score": last.get("train_score"),
        "val_score": last.get("val_score"),
        "best_candidate_score": state.best_score if math.isfinite(state.best_score) else None,
        "best_epoch": None if best is None else best[0],
        "best_split": None if best is None else best[1],
        "best_score": None if best is None else best[2],
        "kept": job.keep,
        "history": job.history,
        "theta": job.system.get_hp_state(),
    }
    report = training_report(job.run_name, job.history, summary, job.store.run_dir(job.run_name))
    return {**summary, "report": str(report.path)}


def train(job: TrainingJob, runner: StepRunner, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Every epoch from the last checkpoint on, each a stage of step blocks closed by a checkpoint."""
    state = initial_state(job)
    display = _Display(job) if job.show_progress else None
    try:
        for epoch in range(job.resumed.next_epoch, job.n_epochs):
            state, metrics = runner.stage("es-epoch", run_epoch, job, state, epoch, runner, label=f"epoch-{epoch}")
            if on_epoch is not None:
                on_epoch(metrics)
            if display is not None:
                display.update()
    except KeyboardInterrupt:
        job.store.finish(job.resumed.run_id, "interrupted")  # not "running": resumed by running it again
        raise
    finally:
        if display is not None:
            display.close()
    return complete(job, state)


class _Display:
    """The run's live bar: steps done/total, ETA, the last epoch's scores, the best epoch, failures."""

    def __init__(self, job: TrainingJob) -> None:
        from hyperfunc_core.live_display import LiveDisplay

        self.job = job
        done = job.history[-1]["steps"] if job.history else 0
        self.live = LiveDisplay(f"ES run {job.run_name}", job.total_steps, "steps", done=done)
        self.update()

    def update(self) -> None:
        history = self.job.history
        if not history:
            self.live.update(0, f"epoch 0 of {self.job.n_epochs}")
            return
        last, best = history[-1], best_epoch(history)
        parts = [f"epoch {last['epoch'] + 1} of {self.job.n_epochs}", f"train {_fmt(last.get('train_score'))}"]
        if last.get("val_score") is not None:
            parts.append(f"val {_fmt(last['val_score'])}")
        if best is not None:
            parts.append(f"best {best[1]} {_fmt(best[2])} (epoch {best[0]})")
        failed = sum(m.get("failed_candidates") or 0 for m in history)
        parts.append(f"failed candidates {failed}")
        self.live.update(last.get("steps") or 0, " | ".join(parts))

    def close(self) -> None:
        self.live.close()


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def run_epoch(job: TrainingJob, state: ESState, epoch: int, runner: StepRunner) -> tuple[ESState, dict]:
    """One epoch: its steps in blocks of ``steps_per_task`` (or each step's population in
    ``population_shards`` shards), then the checkpoint.

    Step blocks and shards are keyed by the run and their step numbers: an epoch cut short is run
    again from its checkpoint, and the blocks it had finished come back from the runner's kept
    results (a chain from the same checkpoint, so each kept result is the one this run would make)."""
    step_metrics: list[dict] = []
    steps = job.epoch_steps(epoch)
    if job.population_shards > 1:  # each step here, its population scored as shard steps
        for step in steps:
            in_shards = partial(score_in_shards, runner=runner, key=f"{job.resumed.key}-step-{step}")
            state, metrics = es_step(job, state, evaluate=in_shards)
            step_metrics.append(metrics)
    else:
        for first in steps[:: job.steps_per_task]:
            count = min(job.steps_per_task, steps.stop - first)
            label = f"epoch-{epoch}-step-{first}" + (f"-{first + count - 1}" if count > 1 else "")
            state, metrics = runner.run(
                "es-step", es_steps, job, state, count, label=label, key=f"{job.resumed.key}-steps-{first}-{count}"
            )
            step_metrics.extend(metrics)
    metrics = runner.run(
        "es-checkpoint", finish_epoch, job, state, epoch, step_metrics, label=f"checkpoint-epoch-{epoch}"
    )
    return state, metrics


def es_steps(job: TrainingJob, state: ESState, count: int) -> tuple[ESState, list[dict]]:
    """``count`` ES steps in a row: one runner step, when single steps cost less than a task."""
    metrics = []
    for _ in range(count):
        state, m = es_step(job, state)
        metrics.append(m)
    return state, metrics


def score_in_shards(
    job: TrainingJob, candidates: torch.Tensor, examples: list, runner: StepRunner, key: str
) -> tuple[list[float], list]:
    """The population as ``job.population_shards`` concurrent steps, their scores in order (kept
    under ``key`` and each shard's range)."""
    futures = [
        runner.submit(
            "es-population-shard",
            evaluate_candidates,
            job,
            candidates[part],
            examples,
            len(candidates),
            label=f"shard-{part.start}-{part.stop - 1}",
            key=f"{key}-shard-{part.start}-{part.stop}",
        )
        for part in shards(len(candidates), job.population_shards)
    ]
    scores, errors = [], []
    for future in futures:
        part_scores, part_errors = future.result()
        scores.extend(part_scores)
        errors.extend(part_errors)
    return scores, errors


def optimize(
    system: "HyperSystem", train: Sequence["Example"], metric_fn: Callable, *, orchestrate: bool = True, **options: Any
) -> dict:
    """Train ``system``'s θ with ES. Options: ``steps``, ``steps_per_epoch``, ``batch_size``, ``val``,
    ``strategy`` (an ES strategy object or name, instead of the system optimizer's),
    ``run_name`` (resume key), ``storage`` (database URL), ``resume``, ``environment_state``,
    ``keep`` ('final' θ, or 'best': the θ of the epoch that scored best on ``val``, else on train;
    both are saved), , ``steps_per_task`` (ES steps per Prefect
    task, default 1; raise it when a step takes less time than a task costs, about 20-90 ms
    here), ``population_shards`` (score each step's population as that many tasks) on
    ``task_runner`` (``"thread"``, ``"dask"`` or a Prefect TaskRunner; see flows/runners.py).
    ``orchestrate=False`` runs the same loop without Prefect. Returns the run's summary and history."""
    from hyperfunc_core import launch

    if orchestrate:
        launch.check_task_runner(options.get("task_runner", "thread"))
    job = prepare_training(system, train, metric_fn, **options)
    return launch.run_training(job, orchestrate=orchestrate)


__all__ = ["TrainingJob", "optimize", "prepare_training", "train"]
