"""Agent evolution as Prefect flows: the loop, and one subflow per generation."""

from __future__ import annotations

import uuid

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.utilities.annotations import quote

from hyperfunc_core.evolution.loop import (
    INITIAL,
    EvolutionLoop,
    GenerateLoopConfig,
    GenerationOutcome,
    LoopResult,
    run_label,
)
from hyperfunc_core.executors.base import PatchError
from hyperfunc_core.llm import BudgetExceededError
from hyperfunc_core.orchestration import ProgressArtifact, artifact_key
from tasks.evolution import archive_task, evaluate_task, meta_agent_task, select_parent_task, setup_executor_task

# Flow parameters go to the API, so they stay small: a key into this process's loops.
_LOOPS: dict[str, EvolutionLoop] = {}


@flow(name="evolution-generation", flow_run_name="gen-{gen_id}", persist_result=False, log_prints=True)
def generation_flow(loop_key: str, gen_id: str) -> GenerationOutcome:
    """select parent → set up executor (patch chain) → MetaAgent → evaluate → archive."""
    loop = _LOOPS[loop_key]
    with loop.observed(gen_id):
        parent = select_parent_task(quote(loop), gen_id)
        try:
            executor = setup_executor_task(quote(loop), gen_id)
        except PatchError as exc:
            return archive_task(quote(loop), gen_id, {}, False, f"patch: {exc}")
        try:
            if parent is not None:
                try:
                    meta_agent_task(quote(loop), gen_id, parent, quote(executor))
                except BudgetExceededError:
                    raise
                except Exception as exc:  # noqa: BLE001 - recorded as not a valid parent; the loop goes on
                    return archive_task(quote(loop), gen_id, {}, False, f"meta agent: {type(exc).__name__}: {exc}")
            try:
                scores = evaluate_task(quote(loop), gen_id, quote(executor))
            except BudgetExceededError:
                raise
            except Exception as exc:  # noqa: BLE001
                return archive_task(quote(loop), gen_id, {}, False, f"evaluate: {type(exc).__name__}: {exc}")
            outcome = archive_task(quote(loop), gen_id, scores, True)
            print(f"generation {gen_id} (parent {parent}): scores {scores}")
            return outcome
        finally:
            executor.cleanup()


@flow(name="evolution", flow_run_name="evolve-{name}", persist_result=False, log_prints=True)
def evolution_flow(loop_key: str, name: str) -> dict:
    """Generations until a perfect score, ``max_generations`` or the budget; resumes from the archive."""
    loop = _LOOPS[loop_key]
    total = loop.config.max_generations + 1
    progress = ProgressArtifact(f"generations of evolution run {name}", 100.0 * len(loop.archive.archive) / total)
    if INITIAL not in loop.archive.entries:
        generation_flow(loop_key, INITIAL)
    reason = None
    while (reason := loop.stop_reason()) is None:
        try:
            generation_flow(loop_key, loop.next_gen_id())
        except BudgetExceededError:
            reason = "budget"
            break
        progress.update(100.0 * len(loop.archive.archive) / total)
    progress.finish(100.0)
    print(f"evolution stopped: {reason}")
    _publish(loop, name, reason)
    return {"stop_reason": reason}


def run_evolution_flow(config: GenerateLoopConfig) -> LoopResult:
    loop = EvolutionLoop(config)
    key = uuid.uuid4().hex
    _LOOPS[key] = loop
    try:
        summary = evolution_flow(key, run_label(loop.name))
    finally:
        _LOOPS.pop(key, None)
    return loop.result(summary["stop_reason"])


def _publish(loop: EvolutionLoop, name: str, reason: str) -> None:
    rows = []
    for g in loop.archive.archive:
        e = loop.archive.entry(g)
        usage = e.metadata.get("usage", {})
        rows.append({"gen": str(g), "parent": str(e.parent_id), "score": e.score, "valid": e.valid_parent,
                     "tokens": usage.get("total_tokens", 0), "cost_usd": usage.get("cost_usd", 0.0),
                     "error": e.metadata.get("error")})
    key = artifact_key("evolution", name)
    create_table_artifact(rows, key=f"{key}-generations", description=f"generations of evolution run {name}")
    report = loop.write_report(reason)
    create_markdown_artifact(report.markdown, key=f"{key}-tree",
                             description=f"archive tree and generations of evolution run {name} ({report.path})")
