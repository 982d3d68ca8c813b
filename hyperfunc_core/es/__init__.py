"""Evolution Strategies: ask/tell over pure state, noise, fitness shaping and update rules."""

from hyperfunc_core.es.layout import Layout
from hyperfunc_core.es.strategy import ESConfig, ESHybridSystemOptimizer, ESState, ask, init_state, tell

__all__ = ["ESConfig", "ESHybridSystemOptimizer", "ESState", "Layout", "ask", "init_state", "tell"]
