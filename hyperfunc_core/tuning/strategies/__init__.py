"""Search strategies behind one interface (``Strategy``): built-in ones by name, the user's own by class."""

from __future__ import annotations

import inspect
from typing import Any

from hyperfunc_core.tuning.goals import Goals
from hyperfunc_core.tuning.space import Space
from hyperfunc_core.tuning.strategies.base import Strategy, Suggestion, TrialRecord
from hyperfunc_core.tuning.strategies.bayesian import BayesianSearch
from hyperfunc_core.tuning.strategies.grid import GridSearch
from hyperfunc_core.tuning.strategies.llm_agent import LLMAgent
from hyperfunc_core.tuning.strategies.optuna_sampler import SAMPLERS, OptunaSampler, sampler_named
from hyperfunc_core.tuning.strategies.random_search import RandomSearch
from hyperfunc_core.tuning.strategies.tree import BeamSearch, LLMBranchingAgent, TreeSearch
from hyperfunc_core.validation import InvalidInput

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (RandomSearch, GridSearch, BeamSearch, BayesianSearch, LLMAgent, LLMBranchingAgent)
}


def register_strategy(name: str, cls: type[Strategy]) -> None:
    """Make ``strategy=name`` build ``cls`` (a subclass of Strategy)."""
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise TypeError(f"register_strategy: expected a Strategy subclass, got {cls!r}")
    STRATEGIES[name] = cls


def make_strategy(strategy: Any, space: Space, *, goals: Goals, seed: int | None, kwargs: dict | None) -> Strategy:
    """Build the strategy ``tune(strategy=...)`` names (a registered name, ``optuna:NAME``, an Optuna
    sampler, a Strategy class or instance), and refuse one that cannot search for ``goals``."""
    built = _build(strategy, space, goals, seed, dict(kwargs or {}))
    if goals.several and not built.several_objectives:
        raise InvalidInput(
            f"strategy: {built.name!r} optimizes one metric; for several ({', '.join(goals.metrics)}) use "
            f"'random', 'grid' or an Optuna sampler such as 'optuna:nsgaii', 'optuna:tpe' or 'optuna:gp'"
        )
    return built


def _build(strategy: Any, space: Space, goals: Goals, seed: int | None, kwargs: dict) -> Strategy:
    mode = goals.modes[0]
    if isinstance(strategy, Strategy):
        if kwargs:
            raise InvalidInput("strategy_kwargs: give them to your strategy's constructor when passing an instance")
        return strategy
    if isinstance(strategy, str) and strategy.startswith("optuna:"):
        sampler = sampler_named(strategy[7:], seed)
        return OptunaSampler(space, mode=mode, seed=seed, sampler=sampler, directions=goals.modes, **kwargs)
    if type(strategy).__module__.startswith("optuna.samplers"):  # an Optuna sampler instance
        return OptunaSampler(space, mode=mode, seed=seed, sampler=strategy, directions=goals.modes, **kwargs)
    if isinstance(strategy, str):
        if strategy not in STRATEGIES:
            raise InvalidInput(
                f"strategy: unknown name {strategy!r}; expected one of {sorted(STRATEGIES)}, "
                f"optuna:{', optuna:'.join(SAMPLERS)}, a Strategy subclass, or a name added with register_strategy()"
            )
        cls = STRATEGIES[strategy]
    elif inspect.isclass(strategy) and issubclass(strategy, Strategy):
        cls = strategy
    else:
        raise InvalidInput(f"strategy: expected a name, a Strategy subclass or instance, got {strategy!r}")
    try:
        return cls(space, mode=mode, seed=seed, **kwargs)
    except TypeError as exc:
        raise InvalidInput(f"strategy_kwargs for {cls.name!r}: {exc}") from None


__all__ = [
    "BayesianSearch",
    "BeamSearch",
    "GridSearch",
    "LLMAgent",
    "LLMBranchingAgent",
    "OptunaSampler",
    "RandomSearch",
    "STRATEGIES",
    "Strategy",
    "Suggestion",
    "TreeSearch",
    "TrialRecord",
    "make_strategy",
    "register_strategy",
]
