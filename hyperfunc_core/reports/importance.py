"""Parameter importance of a finished sweep: how much of the objective's variance each parameter explains.

A first-order functional ANOVA, in the spirit of Optuna's fANOVA evaluator but without the
random forest: each parameter's values are grouped (categories as they are, numbers into
quantile bins) and the variance of the group means, weighted by group size, is divided by
the total variance. The shares are normalised to sum to 1; with too few trials to say
anything (fewer than 4 finite values, or no variance) every parameter gets 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def parameter_importance(trials: Sequence[dict], bins: int = 5) -> dict[str, float]:
    """``trials``: dicts with ``params`` and ``value``; unfinished or non-finite values are ignored."""
    rows = [
        (t["params"], float(t["value"]))
        for t in trials
        if t.get("value") is not None and math.isfinite(float(t["value"])) and t.get("params")
    ]
    names = sorted({name for params, _ in rows for name in params})
    if len(rows) < 4:
        return {name: 0.0 for name in names}
    values = [v for _, v in rows]
    mean = sum(values) / len(values)
    total = sum((v - mean) ** 2 for v in values) / len(values)
    if total <= 0:
        return {name: 0.0 for name in names}
    raw = {name: _explained(rows, name, mean, bins) / total for name in names}
    norm = sum(raw.values())
    return {name: (share / norm if norm > 0 else 0.0) for name, share in raw.items()}


def _explained(rows: list[tuple[dict, float]], name: str, mean: float, bins: int) -> float:
    groups: dict[object, list[float]] = {}
    xs = [params.get(name) for params, _ in rows]
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    if numeric and len(set(xs)) > bins:
        edges = sorted(xs)
        cuts = [edges[int(len(edges) * k / bins)] for k in range(1, bins)]
        keys = [sum(x > c for c in cuts) for x in xs]
    else:
        keys = [repr(x) for x in xs]
    for key, (_, value) in zip(keys, rows):
        groups.setdefault(key, []).append(value)
    n = len(rows)
    return sum(len(g) / n * (sum(g) / len(g) - mean) ** 2 for g in groups.values())
