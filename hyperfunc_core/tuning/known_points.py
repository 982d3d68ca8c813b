"""What a sweep may know before it asks its strategy anything: configurations to run first
(``enqueue``, as Optuna's ``enqueue_trial``) and another study's finished trials (``warm_start``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hyperfunc_core.tuning.space import Space
from hyperfunc_core.tuning.strategies.base import TrialRecord
from hyperfunc_core.validation import InvalidInput


def enqueued_points(enqueue: Any, space: Space, seed: int | None) -> list[dict[str, Any]]:
    """Each configuration as a flat point of ``space``; parameters it leaves out are sampled
    (seeded), so ``{"lr": 0.01}`` alone is a valid configuration."""
    if enqueue is None:
        return []
    if isinstance(enqueue, Mapping) or not isinstance(enqueue, (list, tuple)):
        raise InvalidInput(f"enqueue: expected a list of parameter dicts, got {enqueue!r}")
    tops = {name.split(".")[0] for name in space.names} | set(space.names)
    rng = np.random.default_rng(seed)
    points = []
    for i, config in enumerate(enqueue):
        if not isinstance(config, Mapping):
            raise InvalidInput(f"enqueue[{i}]: expected a dict of parameters, got {config!r}")
        unknown = sorted(str(k) for k in config if k not in tops and k not in space.fixed)
        if unknown:
            raise InvalidInput(f"enqueue[{i}]: unknown parameters {unknown}; the space searches {space.names}")
        flat = space.flatten_params(config)
        for name, value in flat.items():
            if not fits(space, name, value):
                raise InvalidInput(f"enqueue[{i}][{name!r}]: {value!r} is outside {space.params[name].describe()}")
        points.append({**space.sample(rng), **flat})
    return points


def fits(space: Space, name: str, value: Any) -> bool:
    """Whether ``value`` is one of the values parameter ``name`` can take."""
    try:
        return space.params[name].clip(value) == value
    except (ValueError, TypeError):
        return False


def warm_start_trials(study: Any, storage: Any, space: Space, metric: str, mode: str) -> tuple[list[TrialRecord], int]:
    """Study ``study``'s finished trials that lie in ``space`` (for the strategy to learn from, not
    counted in this sweep), and how many were left out because they do not."""
    from hyperfunc_core.tuning.study_store import SQLStudyStore, find_study

    if not isinstance(study, str) or not study:
        raise InvalidInput(f"warm_start: expected the name of a study in this storage, got {study!r}")
    if not isinstance(storage, str):
        raise InvalidInput(f"warm_start: needs storage= (a database URL holding study {study!r}), got {storage!r}")
    row = find_study(storage, study)
    if row is None:
        raise InvalidInput(f"warm_start: no study named {study!r} in {storage}")
    if (row.metric, row.mode) != (metric, mode):
        raise InvalidInput(
            f"warm_start: study {study!r} monitors metric={row.metric!r}, mode={row.mode!r}; "
            f"this sweep monitors metric={metric!r}, mode={mode!r}"
        )
    store = SQLStudyStore(storage)
    store.study_id = row.id
    finished = [t for t in store.trials() if t.finished]
    inside = [
        t for t in finished if set(t.params) == set(space.names) and all(fits(space, n, v) for n, v in t.params.items())
    ]
    return inside, len(finished) - len(inside)
