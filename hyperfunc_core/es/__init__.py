"""Evolution Strategies: ask/tell over pure state, noise, fitness shaping, update rules and the strategies."""

from hyperfunc_core.es.base import ESStrategy
from hyperfunc_core.es.layout import Layout
from hyperfunc_core.es.strategies import CEM, CMAES, PGPE, SNES, OpenAIES, Restarts
from hyperfunc_core.es.strategy import ESConfig, ESHybridSystemOptimizer, ESState, ask, init_state, tell

__all__ = [
    "CEM",
    "CMAES",
    "ESConfig",
    "ESHybridSystemOptimizer",
    "ESState",
    "ESStrategy",
    "Layout",
    "OpenAIES",
    "PGPE",
    "Restarts",
    "SNES",
    "ask",
    "init_state",
    "tell",
]
