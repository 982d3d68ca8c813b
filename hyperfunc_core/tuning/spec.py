"""A study's spec: what a worker in another process needs to run (or resume) it from plain values.

``prepare_sweep`` stores it in the study's row when the study is created, so the ``tune`` flow
needs only the study's name and database: a retry from the Prefect UI, a worker on another machine
or a schedule rebuilds the sweep from it. Code is named, never pickled: the objective by
``FILE:NAME`` or ``module:name``. What has no name (a lambda, a closure, a strategy object) runs
only in the process that started the study; the spec lists it under ``in_process``, and a worker
that finds it says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hyperfunc_core.jobs import code_reference, load_target
from hyperfunc_core.tuning.space import Space

# The options of tune() a spec carries (plain values only).
OPTIONS = (
    "strategy",
    "strategy_kwargs",
    "max_trials",
    "max_concurrent",
    "max_time_s",
    "metric",
    "mode",
    "constraints",
    "early_stopping",
    "early_stopping_kwargs",
    "executor",
    "trial_timeout_s",
    "seed",
    "enqueue",
    "warm_start",
)


class InProcessOnly(ValueError):
    """The study's code has no name a worker could load: only the process that started it can run it."""


def sweep_spec(objective: Callable[..., Any], space: Space, options: dict[str, Any]) -> dict:
    """The spec of a study of ``objective`` over ``space`` with ``options`` (tune()'s keywords)."""
    reference = code_reference(objective)
    in_process = [] if reference else [f"objective {getattr(objective, '__qualname__', type(objective).__name__)}"]
    plain: dict[str, Any] = {}
    for key in OPTIONS:
        value = options.get(key)
        if isinstance(value, dict):
            kept = {k: v for k, v in value.items() if _is_plain(v)}
            if len(kept) != len(value):
                in_process.append(f"{key} (objects in it)")
            value = kept
        elif not _is_plain(value):
            in_process.append(f"{key} {type(value).__name__}")
            value = None
        plain[key] = value
    return {"objective": reference, "space": space.describe(), "options": plain, "in_process": in_process}


def objective_and_space(spec: dict, study: str) -> tuple[Callable[..., Any], dict]:
    """The objective and nested space a stored spec names; ``InProcessOnly`` where it names none."""
    if spec.get("in_process"):
        raise InProcessOnly(
            f"study {study!r} was started from Python with code a worker cannot load "
            f"({', '.join(spec['in_process'])}); run it again from that code, or name the objective "
            f"as FILE:NAME (hyperfunc tune) so any worker can run it"
        )
    _, objective = load_target(spec["objective"], "objective")
    space = spec["space"]
    if isinstance(space, str):  # FILE:SPACE, as a deployment names it
        return objective, load_target(space, "space")[1]
    return objective, Space.from_description(space).spec


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False
