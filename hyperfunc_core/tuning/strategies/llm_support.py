"""What the LLM strategies share: turning any LLM into a prompt function, and turning its
answer into points that are guaranteed to lie in the space."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from hyperfunc_core.tuning.space import Space

PromptFn = Callable[[str], str]
SYSTEM_PROMPT = "You are a hyperparameter optimisation assistant. Return RAW JSON only, no prose, no code fences."


def asking(llm: PromptFn, prompt: str, info: dict) -> str:
    """``llm(prompt)``, with its failed attempts (retries) put in ``info`` when a gateway answers it,
    so a trial's record says what its suggestion cost, fallbacks included."""
    from hyperfunc_core.llm import tally

    with tally() as spent:
        try:
            return llm(prompt)
        finally:
            if spent.failed_attempts:
                info["llm_failed_attempts"] = spent.failed_attempts


def resolve_llm(llm: Any) -> PromptFn:
    """A ``(prompt) -> str`` callable from a callable, a litellm model string, a gateway, or None (the default model)."""
    from hyperfunc_core.llm import LLMGateway

    if llm is None or isinstance(llm, str):
        llm = LLMGateway(llm)
    if isinstance(llm, LLMGateway):
        llm.check_configured("strategy_kwargs['llm']")
        return llm.prompt_fn(system=SYSTEM_PROMPT)
    if callable(llm):
        return llm
    raise ValueError(
        f"strategy_kwargs['llm']: expected a callable (prompt: str) -> str, a litellm model string or an LLMGateway, got {llm!r}"
    )


def coerce_point(space: Space, raw: Any, rng: np.random.Generator) -> tuple[dict[str, Any], list[str]]:
    """Validate and clip an LLM-proposed point. Missing or impossible values are drawn at random
    and noted; a point with no usable value at all raises ValueError."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected a JSON object of parameters, got {raw!r}")
    given = space.flatten_params(raw)
    point, notes = {}, []
    for name, param in space.params.items():
        if name not in given:
            point[name] = param.sample(rng)
            notes.append(f"{name}: missing, sampled at random")
            continue
        try:
            value = param.clip(given[name])
        except (TypeError, ValueError) as exc:
            point[name] = param.sample(rng)
            notes.append(f"{name}: {exc}; sampled at random")
            continue
        if value != given[name]:
            notes.append(f"{name}: {given[name]!r} clipped to {value!r}")
        point[name] = value
    if len([n for n in notes if "sampled at random" in n]) == len(space.params):
        raise ValueError("the LLM's answer names no usable parameter of the space")
    return point, notes


def describe_space(space: Space) -> str:
    return json.dumps(space.describe()["params"], default=str)


def history_lines(trials: list, max_history: int) -> str:
    rows = [{"trial": t.number, "params": t.params, "value": t.value, "state": t.state} for t in trials[-max_history:]]
    return json.dumps(rows, default=str) if rows else "[] (no trials yet)"


def mutate(space: Space, params: dict[str, Any], rng: np.random.Generator, scale: float) -> dict[str, Any]:
    """A neighbour of ``params``: numeric values jittered in unit space, discrete ones resampled sometimes."""
    from hyperfunc_core.tuning.space import Bool, Choice

    child = dict(params)
    for name, param in space.params.items():
        if isinstance(param, (Choice, Bool)):
            if rng.random() < min(0.5, scale * 2):
                child[name] = param.sample(rng)
        else:
            child[name] = param.from_unit(float(np.clip(param.to_unit(params[name]) + rng.normal(0, scale), 0, 1)))
    if space.key(child) == space.key(params):  # always move somewhere
        name = space.names[int(rng.integers(len(space.names)))]
        child[name] = space.params[name].sample(rng)
    return child
