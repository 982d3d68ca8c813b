"""The harness: a TaskAgent over a domain's tasks, concurrently, with the results written out.

Writes ``predictions.json`` (``[{questionId, prediction, score, expected, error}]``) and
``report.json`` (``{averageScore, ...}``) into ``out_dir``. A task whose agent call fails
scores 0 with its error recorded; the others go on. A task whose tool ran past its time limit
(``CommandTimeout``), whose agent met a link or special file planted in its workspace
(``UnsafePath``), or whose LLM calls failed for good (``LLMError``) is recorded the same way, and once every task is done and the results are
written the harness raises it: code that hangs or reaches out of its workspace, or a provider
that cannot be reached, makes the whole evaluation invalid; it is not an answer to score.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hyperfunc_core.domains.base import Domain, EvalResult, ReportSummary
from hyperfunc_core.executors.commands import CommandTimeout
from hyperfunc_core.executors.safe_files import UnsafePath
from hyperfunc_core.llm import LLMError

# Faults that make a score meaningless: the agent's code hung or reached out of its workspace, or the
# LLM could not be asked (a task scored 0 because the provider was down says nothing about the agent).
INVALIDATING = (CommandTimeout, UnsafePath, LLMError)


async def run_harness(
    domain: Domain,
    agent: Any,
    out_dir: str | Path | None = None,
    subset: str | None = None,
    num_samples: int | None = None,
    concurrency: int | None = None,
) -> ReportSummary:
    subset = subset or domain.config.subset
    tasks = await domain.load_tasks(subset, num_samples if num_samples is not None else domain.config.num_samples)
    bound = asyncio.Semaphore(concurrency or domain.config.concurrency)
    faults: list[Exception] = []

    async def one(task) -> EvalResult:
        async with bound:
            try:
                prediction = await agent.aforward(domain.format_input(task))
            except Exception as exc:  # noqa: BLE001 - recorded; the other tasks go on
                if isinstance(exc, INVALIDATING):
                    faults.append(exc)
                return EvalResult(task.id, "", 0.0, task.expected, f"{type(exc).__name__}: {exc}")
            try:
                score = float(await domain.evaluate(prediction, task))
            except Exception as exc:  # noqa: BLE001
                return EvalResult(task.id, prediction, 0.0, task.expected, f"evaluate: {type(exc).__name__}: {exc}")
            return EvalResult(task.id, prediction, score, task.expected)

    results = list(await asyncio.gather(*(one(t) for t in tasks)))
    summary = await domain.report(results)
    summary.subset = subset
    if out_dir is not None:
        write_results(out_dir, results, summary)
    if faults:
        first = faults[0]
        what = (
            "hit a time limit"
            if isinstance(first, CommandTimeout)
            else "met an unsafe path"
            if isinstance(first, UnsafePath)
            else "could not be evaluated: their LLM calls failed"
        )
        message = f"{len(faults)} of {len(results)} {domain.config.name} tasks {what}; first: {first}"
        if isinstance(first, LLMError):
            raise LLMError(
                message, model=first.model, endpoint=first.endpoint, status=first.status, attempts=first.attempts
            ) from first
        raise type(first)(message) from first
    return summary


def write_results(out_dir: str | Path, results: list[EvalResult], summary: ReportSummary) -> None:
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    predictions = [
        {
            "questionId": r.task_id,
            "prediction": r.prediction,
            "score": r.score,
            "expected": r.expected,
            "error": r.error,
        }
        for r in results
    ]
    (folder / "predictions.json").write_text(json.dumps(predictions, indent=2, default=str))
    (folder / "report.json").write_text(json.dumps(summary.as_json(), indent=2))
