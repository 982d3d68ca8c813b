"""Agent evolution as a Prefect flow: each generation a subflow of step tasks."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Completed

from flows.progress import ProgressArtifact, artifact_key, embedded_images
from flows.results import call_flow, keep
from flows.run_names import run_name_for
from flows.step_runner import PrefectRunner
from hyperfunc_core.evolution.loop import EvolutionLoop, GenerationOutcome, LoopResult, run_label
from hyperfunc_core.evolution.report import stage_note
from hyperfunc_core.jobs import offline_or_named_model, reopen_evolution, stored_evolution_spec

# Loops prepared by run_generate_loop() in this process, by run name: the flow runs the caller's own
# agents. A flow run without one (a retry, a worker, a schedule) rebuilds the loop from the run's spec.
_LOOPS: dict[str, EvolutionLoop] = {}


def _flow_run_name() -> str:
    from prefect.runtime import flow_run

    return f"evolve-{run_label(str((flow_run.parameters or {}).get('run_name', 'run')))}"


@flow(name="evolution", flow_run_name=_flow_run_name, persist_result=False, log_prints=True)
def evolution_flow(
    run_name: str,
    storage: str | None = None,
    spec: dict | None = None,
    add_generations: int | None = None,
    dated: bool = False,
) -> Any:
    """Generations until a perfect score, ``max_generations``, no valid parent or the budget; resumes from
    the archive. A run not in ``storage`` (default: the project database) starts from ``spec``
    (``evolve_domain``'s arguments: ``{"domain": ..., "repo": ..., "model": ...}``; ``model: offline``
    is the scripted offline model); ``add_generations``: that many beyond the last one (a schedule's
    way to add work); ``dated``: a new run ``<run_name>-<date>`` each time. A generation that failed
    ends its subflow Failed and the loop goes on; the final state counts them."""
    loop = _LOOPS.pop(run_name, None)
    if loop is not None:
        return _evolve(loop)
    name = run_name_for(run_name, dated)
    stored, _ = stored_evolution_spec(name, storage)
    with offline_or_named_model(stored or spec) as llm:
        return _evolve(EvolutionLoop(reopen_evolution(name, storage, spec, add_generations, llm)))


def _evolve(loop: EvolutionLoop) -> Any:
    name = run_label(loop.name)
    total = loop.planned_generations
    progress = ProgressArtifact(f"generations of evolution run {name}", 100.0 * len(loop.archive.archive) / total)
    failed: list[str] = []

    def on_generation(outcome: GenerationOutcome) -> None:
        print(
            f"generation {outcome.gen_id} (parent {outcome.parent_id}): scores {outcome.scores}"
            + (f"; failed: {outcome.error}" if outcome.error else "")
        )
        if outcome.error:
            failed.append(outcome.gen_id)
        progress.update(100.0 * len(loop.archive.archive) / total)

    reason = loop.run(PrefectRunner(f"evolve-{name}"), on_generation)
    progress.finish(100.0)
    print(f"evolution stopped: {reason}")
    _publish(loop, name, reason)
    result = loop.result(reason)
    ran = len(loop.generations_run)
    return Completed(
        message=f"stopped: {reason}; {ran} generations run, {len(failed)} failed",
        data=keep(
            {
                "stop_reason": reason,
                "best_gen": result.best_gen,
                "best_score": result.best_score,
                "report": result.report,
                "output_dir": result.output_dir,
            }
        ),
    )


def run_evolution_flow(loop: EvolutionLoop) -> LoopResult:
    """Run ``evolution_flow`` for a loop ``run_generate_loop`` prepared in this process."""
    _LOOPS[loop.name] = loop
    try:
        summary = call_flow(lambda: evolution_flow(loop.name, loop.config.storage, loop.config.spec, return_state=True))
    finally:
        _LOOPS.pop(loop.name, None)
    return loop.result(summary["stop_reason"])


def _publish(loop: EvolutionLoop, name: str, reason: str) -> None:
    rows = []
    for g in loop.archive.archive:
        e = loop.archive.entry(g)
        usage = e.metadata.get("usage", {})
        rows.append(
            {
                "gen": str(g),
                "parent": str(e.parent_id),
                "train": e.mean_on("train"),
                "validation": e.mean_on("validation"),
                "valid": e.valid_parent,
                "stage": stage_note(e),
                "tokens": usage.get("total_tokens", 0),
                "cost_usd": usage.get("cost_usd", 0.0),
                "error": e.metadata.get("error"),
            }
        )
    key = artifact_key("evolution", name)
    create_table_artifact(rows, key=f"{key}-generations", description=f"generations of evolution run {name}")
    report = loop.write_report(reason)
    create_markdown_artifact(
        embedded_images(report.markdown, report.folder),
        key=f"{key}-tree",
        description=f"archive tree and generations of evolution run {name} ({report.path})",
    )
