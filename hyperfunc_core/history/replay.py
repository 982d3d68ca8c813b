"""Re-run a finished trial, ES epoch or generation from its recorded inputs, and compare.

- A trial: the objective the study's spec names, called again with the trial's parameters;
  its monitored value against the recorded one.
- An ES epoch: the run's FILE:SYSTEM target and options (the spec stored with the run, the
  one a worker rebuilds it from), θ and optimiser state from the previous epoch's checkpoint, the epoch's steps
  again; the θ reached against the epoch's checkpoint, bit for bit, and the train score.
- A generation: its recorded patch chain replayed by an executor at the run's base commit,
  the TaskAgent evaluated again on the run's domains; the scores against the archive's. The
  MetaAgent is not called: its patch is the generation's recorded input.
"""

from __future__ import annotations

import importlib
import math
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperfunc_core.validation import InvalidInput


@dataclass
class ReplayOutcome:
    engine: str
    run: str
    item: str
    recorded: Any
    replayed: Any
    reproduced: bool
    difference: str | None = None

    def describe(self) -> str:
        verdict = "reproduced" if self.reproduced else f"NOT reproduced: {self.difference}"
        return (
            f"{self.engine} run {self.run!r}, {self.item}: recorded {self.recorded}, replayed {self.replayed} "
            f"-> {verdict}"
        )


def replay(name: str, item: str | None = None, url: str | None = None, **llm: Any) -> ReplayOutcome:
    """Replay ``item`` (trial number, epoch number or generation id; default: the best trial, the last
    epoch, the best generation) of the run called ``name``, whichever engine it belongs to."""
    from sqlmodel import select

    from hyperfunc_core.storage import ESRun, EvolutionRun, Study, session_scope

    with session_scope(url) as s:
        found = [
            engine
            for engine, table in (("tuning", Study), ("training", ESRun), ("evolution", EvolutionRun))
            if s.exec(select(table).where(table.name == name)).first() is not None
        ]
    if not found:
        raise InvalidInput(f"RUN: no study, ES run or evolution run named {name!r} in this database")
    if len(found) > 1:
        raise InvalidInput(f"RUN: {name!r} names runs of {', '.join(found)}; rename one to replay it")
    if found[0] == "tuning":
        return replay_trial(name, None if item is None else _int(item, "trial"), url)
    if found[0] == "training":
        return replay_epoch(name, None if item is None else _int(item, "epoch"), url)
    return replay_generation(name, item, url, **llm)


def _int(item: str, what: str) -> int:
    try:
        return int(item)
    except ValueError:
        raise InvalidInput(f"{what}: expected a {what} number, got {item!r}") from None


# -- trials ------------------------------------------------------------------------------
def replay_trial(study_name: str, number: int | None = None, url: str | None = None) -> ReplayOutcome:
    from sqlmodel import select

    from hyperfunc_core.storage import Study, Trial, session_scope
    from hyperfunc_core.tuning.objective import TrialContext, as_result, metric_value
    from hyperfunc_core.tuning.space import unflatten

    with session_scope(url) as s:
        study = s.exec(select(Study).where(Study.name == study_name)).one()
        trials = [t for t in s.exec(select(Trial).where(Trial.study_id == study.id)).all() if t.state == "complete"]
        if number is None:
            if not trials:
                raise InvalidInput(f"RUN: study {study_name!r} has no finished trial to replay")
            trial = (max if study.mode == "max" else min)(trials, key=lambda t: t.value)
        else:
            trial = next((t for t in trials if t.number == number), None)
            if trial is None:
                raise InvalidInput(f"trial: study {study_name!r} has no finished trial number {number}")
        settings, metric = dict(study.settings), study.metric
        recorded, flat, trial_id, trial_number = trial.value, dict(trial.params), trial.trial_id, trial.number
    objective = _load_objective(settings.get("spec") or {}, settings.get("objective") or {}, study_name)
    params = unflatten(flat, settings.get("fixed") or {})
    ctx = TrialContext(trial_id, trial_number, params)
    replayed = metric_value(as_result(objective(ctx, **params)), metric, ctx.reports)
    same = recorded is not None and math.isclose(replayed, recorded, rel_tol=1e-9, abs_tol=1e-12)
    return ReplayOutcome(
        "tuning",
        study_name,
        f"trial {trial_number} {params}",
        recorded,
        replayed,
        same,
        None if same else f"{metric} differs by {replayed - recorded:+.6g}",
    )


def _load_objective(spec: dict, legacy: dict, study: str) -> Any:
    """The objective the study's spec names (``FILE:NAME`` or ``module:name``); a study made before
    specs were stored (migration 0003) named it in ``settings["objective"]`` instead."""
    from hyperfunc_core.jobs import load_module, load_target

    if spec.get("objective"):
        return load_target(spec["objective"], "objective")[1]
    qualname, module_name, file = legacy.get("qualname"), legacy.get("module"), legacy.get("file")
    if not qualname or "<locals>" in qualname or "<lambda>" in qualname:
        kept = ", ".join(spec.get("in_process") or []) or qualname or "none"
        raise InvalidInput(
            f"RUN: study {study!r} recorded no objective that can be loaded again "
            f"({kept}; define it at the top level of a file)"
        )
    if file and Path(file).is_file():
        module = load_module(Path(file), f"_replay_{Path(file).stem}")
    else:
        module = importlib.import_module(module_name)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


# -- ES epochs ---------------------------------------------------------------------------
def replay_epoch(run_name: str, epoch: int | None = None, url: str | None = None) -> ReplayOutcome:
    import torch
    from sqlmodel import select

    from hyperfunc_core.es.strategy import ESState
    from hyperfunc_core.hyper.training import es_step, initial_state
    from hyperfunc_core.jobs import training_from_spec
    from hyperfunc_core.storage import ESEpoch, ESRun, session_scope

    with session_scope(url) as s:
        run = s.exec(select(ESRun).where(ESRun.name == run_name)).one()
        rows = s.exec(select(ESEpoch).where(ESEpoch.run_id == run.id)).all()
        epochs = {e.epoch: e.checkpoint_path for e in rows}
        metrics = {e.epoch: dict(e.metrics) for e in rows}
        spec, total_steps = dict(run.spec or {}), run.config.get("total_steps")
    if not epochs:
        raise InvalidInput(f"RUN: ES run {run_name!r} has no finished epoch to replay")
    epoch = max(epochs) if epoch is None else epoch
    if epoch not in epochs:
        raise InvalidInput(f"epoch: ES run {run_name!r} has epochs {sorted(epochs)}, not {epoch}")
    if not spec.get("system") or spec.get("in_process"):
        raise InvalidInput(
            f"RUN: ES run {run_name!r} was not started from a FILE:SYSTEM target (hyperfunc train, a "
            f"deployment or the demo), so its code and data cannot be loaded again"
        )
    scratch = Path(tempfile.mkdtemp(prefix="hyperfunc-replay-"))
    replay_name = f"replay-{run_name}-{uuid.uuid4().hex[:8]}"
    job = None
    try:
        job = training_from_spec(
            spec, run_name=replay_name, storage=f"sqlite:///{scratch / 'replay.db'}", steps=total_steps
        )
        state = (
            initial_state(job) if epoch == 0 else ESState.from_dict(torch.load(epochs[epoch - 1], weights_only=False))
        )
        for _ in job.epoch_steps(epoch):
            state, _ = es_step(job, state)
        recorded = ESState.from_dict(torch.load(epochs[epoch], weights_only=False))
        theta = job.layout.unflatten(state.theta)
        score = job.system.evaluate_population(
            [theta], job.train, job.metric_fn, environment_state=job.environment_state
        )[0]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if job is not None:
            shutil.rmtree(job.store.run_dir(replay_name), ignore_errors=True)
    same = torch.equal(state.theta.cpu(), recorded.theta.cpu())
    gap = float((state.theta.cpu() - recorded.theta.cpu()).abs().max())
    return ReplayOutcome(
        "training",
        run_name,
        f"epoch {epoch}",
        f"train score {metrics[epoch].get('train_score')}",
        f"train score {score}",
        same,
        None if same else f"θ differs by up to {gap:.3g}",
    )


# -- generations -------------------------------------------------------------------------
def replay_generation(
    run_name: str,
    gen_id: str | None = None,
    url: str | None = None,
    model: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
) -> ReplayOutcome:
    from contextlib import nullcontext

    from sqlmodel import select

    from hyperfunc_core.agents import AgentOptions, TaskAgent
    from hyperfunc_core.domains import get_domain
    from hyperfunc_core.evolution.archive import get_patch_files, load_archive
    from hyperfunc_core.evolution.evaluation import evaluate_workspace, selection_scores
    from hyperfunc_core.evolution.loop import open_workspace
    from hyperfunc_core.executors import create_executor
    from hyperfunc_core.storage import EvolutionRun, session_scope
    from hyperfunc_core.testing.scripted_agents import OFFLINE_MODEL, offline_model

    with session_scope(url) as s:
        run = s.exec(select(EvolutionRun).where(EvolutionRun.name == run_name)).one()
        config, output_dir = dict(run.config), Path(run.output_dir)
    archive = load_archive(output_dir)
    if gen_id is None:
        best = archive.best()
        if best is None:
            raise InvalidInput(f"RUN: evolution run {run_name!r} has no scored generation to replay")
        gen_id = str(best.gen_id)
    if gen_id not in {str(g) for g in archive.archive}:
        raise InvalidInput(
            f"generation: run {run_name!r} has generations {[str(g) for g in archive.archive]}, not {gen_id!r}"
        )
    entry = archive.entry(gen_id)
    if "repo_path" not in config:
        raise InvalidInput(f"RUN: evolution run {run_name!r} recorded no repository (it predates replay)")
    model = model or config.get("model")
    offline = model == OFFLINE_MODEL and api_base is None
    with offline_model() if offline else nullcontext({"model": model, "api_base": api_base, "api_key": api_key}) as llm:
        executor = open_workspace(
            create_executor(
                config.get("execution_mode", "local"),
                {"repoPath": config["repo_path"], "baseCommit": config.get("base_commit", "HEAD")},
            ),
            get_patch_files(output_dir, gen_id),
            config.get("prompts_dir"),
        )
        scratch = Path(tempfile.mkdtemp(prefix="hyperfunc-replay-"))
        try:
            by_split, _ = evaluate_workspace(
                [get_domain(d) for d in config["domains"]],
                lambda tools: TaskAgent(AgentOptions(tools=tools, **llm)),
                executor.get_workdir(),
                scratch,
                config.get("eval_samples"),
                config.get("prompts_dir"),
            )
            scores = selection_scores(by_split)
        finally:
            executor.cleanup()
            shutil.rmtree(scratch, ignore_errors=True)
    recorded = dict(entry.scores)
    diffs = {
        d: scores.get(d, 0.0) - recorded.get(d, 0.0)
        for d in set(scores) | set(recorded)
        if not math.isclose(scores.get(d, math.nan), recorded.get(d, math.nan), abs_tol=1e-9)
    }
    name = "initial" if gen_id == "initial" else f"generation {gen_id}"
    return ReplayOutcome(
        "evolution",
        run_name,
        name,
        recorded,
        scores,
        not diffs,
        None if not diffs else ", ".join(f"{d} {v:+.3f}" for d, v in sorted(diffs.items())),
    )
