"""The ES strategies by name: what ``ESConfig(strategy="cma_es")`` resolves to."""

from __future__ import annotations

from typing import Any

from hyperfunc_core.es.base import ESStrategy
from hyperfunc_core.es.cem import CEM
from hyperfunc_core.es.cma_es import CMAES
from hyperfunc_core.es.openai_es import OpenAIES
from hyperfunc_core.es.pgpe import PGPE
from hyperfunc_core.es.restarts import Restarts
from hyperfunc_core.es.snes import SNES
from hyperfunc_core.validation import InvalidInput

BY_NAME = {
    "openai_es": OpenAIES,
    "cma_es": CMAES,
    "sep_cma_es": lambda: CMAES(separable=True),
    "snes": SNES,
    "pgpe": PGPE,
    "cem": CEM,
}


def resolve(strategy: Any) -> ESStrategy:
    """A strategy object from ``ESConfig.strategy``: None (OpenAI-ES), an object, or a name."""
    if strategy is None:
        return OpenAIES()
    if isinstance(strategy, ESStrategy):
        return strategy
    if isinstance(strategy, str) and strategy in BY_NAME:
        return BY_NAME[strategy]()
    raise InvalidInput(
        f"strategy: expected None, an ES strategy object (CMAES, SNES, PGPE, CEM, Restarts, OpenAIES) "
        f"or one of {sorted(BY_NAME)}, got {strategy!r}"
    )


__all__ = ["BY_NAME", "CEM", "CMAES", "PGPE", "SNES", "OpenAIES", "Restarts", "resolve"]
