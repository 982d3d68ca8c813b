"""Agent-evolution tasks: thin wrappers around the steps of ``EvolutionLoop``.

No Prefect retries: the MetaAgent's and TaskAgent's LLM calls retry inside the gateway,
and a resume reads what each step saved in the run's folder (parent, patch, reports), so
a crash after the MetaAgent step does not call it again.
"""

from __future__ import annotations

from prefect import task

from hyperfunc_core.evolution.loop import EvolutionLoop, GenerationOutcome
from hyperfunc_core.executors.base import Executor


@task(name="select-parent", persist_result=False, cache_policy=None)
def select_parent_task(loop: EvolutionLoop, gen_id: str) -> str | None:
    return loop.select(gen_id)


@task(name="setup-executor", persist_result=False, cache_policy=None)
def setup_executor_task(loop: EvolutionLoop, gen_id: str) -> Executor:
    """A workspace at the base commit with the parent's patch chain applied."""
    return loop.open_executor(gen_id)


@task(name="meta-agent", persist_result=False, cache_policy=None)
def meta_agent_task(loop: EvolutionLoop, gen_id: str, parent_id: str, executor: Executor) -> dict:
    """The MetaAgent edits the workspace; its patch and usage are saved before the task ends."""
    return loop.improve(gen_id, parent_id, executor)


@task(name="evaluate", persist_result=False, cache_policy=None)
def evaluate_task(loop: EvolutionLoop, gen_id: str, executor: Executor) -> dict[str, float]:
    """The TaskAgent on every domain's tasks (one task per evaluation, concurrent inside)."""
    return loop.evaluate(gen_id, executor)


@task(name="archive", persist_result=False, cache_policy=None)
def archive_task(loop: EvolutionLoop, gen_id: str, scores: dict[str, float], valid: bool,
                 error: str | None = None) -> GenerationOutcome:
    return loop.record(gen_id, scores, valid, error)
