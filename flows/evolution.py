"""Agent evolution as a Prefect flow: each generation a subflow of step tasks."""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Completed

from flows.progress import ProgressArtifact, artifact_key
from flows.step_runner import PrefectRunner
from hyperfunc_core.evolution.loop import EvolutionLoop, GenerationOutcome, LoopResult, run_label

# Flow parameters go to the API, so they stay small: a key into this process's loops.
_LOOPS: dict[str, EvolutionLoop] = {}


@flow(name="evolution", flow_run_name="evolve-{name}", persist_result=False, log_prints=True)
def evolution_flow(loop_key: str, name: str) -> Any:
    """Generations until a perfect score, ``max_generations`` or the budget; resumes from the archive.
    A generation that failed ends its subflow Failed and the loop goes on; the final state counts them."""
    loop = _LOOPS[loop_key]
    total = loop.config.max_generations + 1
    progress = ProgressArtifact(f"generations of evolution run {name}", 100.0 * len(loop.archive.archive) / total)
    failed: list[str] = []

    def on_generation(outcome: GenerationOutcome) -> None:
        print(f"generation {outcome.gen_id} (parent {outcome.parent_id}): scores {outcome.scores}"
              + (f"; failed: {outcome.error}" if outcome.error else ""))
        if outcome.error:
            failed.append(outcome.gen_id)
        progress.update(100.0 * len(loop.archive.archive) / total)

    reason = loop.run(PrefectRunner(f"evolve-{name}"), on_generation)
    progress.finish(100.0)
    print(f"evolution stopped: {reason}")
    _publish(loop, name, reason)
    ran = len(loop.generations_run)
    return Completed(message=f"stopped: {reason}; {ran} generations run, {len(failed)} failed",
                     data={"stop_reason": reason})


def run_evolution_flow(loop: EvolutionLoop) -> LoopResult:
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
