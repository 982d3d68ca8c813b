"""How a prediction is scored: exact match, an LLM judge, or a human's rating."""

from __future__ import annotations

import re
from typing import Any

from hyperfunc_core.validation import InvalidInput

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def normalize(text: Any) -> str:
    return " ".join(str(text).strip().lower().split()).rstrip(".")


def static_evaluator(prediction: Any, expected: Any) -> float:
    """1.0 when the two match after trimming, case folding and collapsing whitespace."""
    return 1.0 if normalize(prediction) == normalize(expected) else 0.0


async def llm_judge_evaluator(prediction: str, task: dict, gateway: Any = None) -> float:
    """Ask an LLM for a 0-1 score of ``prediction`` against the task's description and rubric."""
    from hyperfunc_core.hyper.llm_calls import default_gateway

    if not isinstance(task, dict) or "description" not in task:
        raise InvalidInput("task: expected a dict with 'description' (and optionally 'rubric')")
    gw = gateway or default_gateway()
    prompt = (
        f"Task: {task['description']}\nRubric: {task.get('rubric', 'correctness')}\n"
        f"Answer to grade:\n{prediction}\n\nReply with a single number between 0 and 1."
    )
    response = await gw.acomplete(
        [{"role": "system", "content": "You are a strict grader."}, {"role": "user", "content": prompt}], temperature=0
    )
    found = _NUMBER.search(response.content or "")
    return min(1.0, max(0.0, float(found.group()))) if found else 0.0


def human_feedback_evaluator(rating: float) -> float:
    """A user's rating already on a 0-1 scale (e.g. 4 / 5), clamped to it."""
    if not isinstance(rating, (int, float)) or isinstance(rating, bool):
        raise ValueError(f"rating: expected a number between 0 and 1, got {rating!r}")
    return min(1.0, max(0.0, float(rating)))
