"""Parent selection: which archived generation the next one starts from.

Only valid parents (``valid_parent`` with a score) are candidates. ``score_child_prop``
weighs each by ``(score + 0.01) / (1 + children)`` so under-explored branches get tried.
"""

from __future__ import annotations

import random

from hyperfunc_core.evolution.archive import ArchiveData
from hyperfunc_core.validation import InvalidInput

STRATEGIES = ("random", "latest", "best", "score_prop", "score_child_prop")


def parent_weights(data: ArchiveData, strategy: str) -> dict[str, float]:
    """The selection weight of every valid parent (before normalising)."""
    if strategy not in STRATEGIES:
        raise InvalidInput(f"parent_selection: expected one of {', '.join(STRATEGIES)}, got {strategy!r}")
    valid = [str(g) for g in data.archive if data.entry(g).valid_parent and data.entry(g).score is not None]
    if not valid:
        raise InvalidInput("parent selection: the archive has no valid parent (every generation failed)")
    if strategy == "random":
        return {g: 1.0 for g in valid}
    if strategy == "latest":
        return {valid[-1]: 1.0}
    if strategy == "best":
        best = max(valid, key=lambda g: data.entry(g).score)
        return {best: 1.0}
    if strategy == "score_prop":
        return {g: data.entry(g).score + 0.01 for g in valid}
    return {g: (data.entry(g).score + 0.01) / (1 + data.children(g)) for g in valid}


def select_parent(data: ArchiveData, strategy: str = "score_child_prop", rng: random.Random | None = None) -> str:
    """The chosen parent's gen id; ``rng`` (seeded) makes the choice reproducible."""
    weights = parent_weights(data, strategy)
    names = list(weights)
    if len(names) == 1:
        return names[0]
    return (rng or random.Random()).choices(names, weights=[weights[n] for n in names], k=1)[0]
