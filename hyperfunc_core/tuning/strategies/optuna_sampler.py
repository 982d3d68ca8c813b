"""Optuna's samplers as strategies (``strategy="optuna:tpe"``, or an ``optuna.samplers`` instance),
through Optuna's own ask/tell on an in-memory Optuna study: users bring the sampler they trust, and
it runs inside our flows, stores and early stopping.

Each of our trials is one Optuna trial: asked here, told when it finishes (complete, failed or
pruned). Trials a resumed study replays were asked by another process, so they are added to the
Optuna study as finished trials (``create_trial``), which every sampler learns from alike.
"""

from __future__ import annotations

import logging
from typing import Any

from hyperfunc_core.tuning.space import Bool, Choice, Float, Int, Param, Space
from hyperfunc_core.tuning.strategies.base import Strategy, Suggestion, TrialRecord
from hyperfunc_core.validation import InvalidInput

SAMPLERS = {  # name after "optuna:" -> the optuna.samplers class
    "tpe": "TPESampler",
    "gp": "GPSampler",
    "cmaes": "CmaEsSampler",
    "nsgaii": "NSGAIISampler",
    "qmc": "QMCSampler",
    "random": "RandomSampler",
}


def optuna_module() -> Any:
    try:
        import optuna
    except ImportError:
        raise InvalidInput(
            "strategy: Optuna's samplers need optuna (pip install -e '.[optuna]', or scripts/setup.sh --dev)"
        ) from None
    optuna.logging.set_verbosity(logging.WARNING)  # its per-trial INFO lines repeat what our study records
    return optuna


def sampler_named(name: str, seed: int | None) -> Any:
    """The sampler ``optuna:NAME`` stands for, seeded."""
    optuna = optuna_module()
    if name not in SAMPLERS:
        raise InvalidInput(
            f"strategy: unknown Optuna sampler 'optuna:{name}'; expected optuna:{', optuna:'.join(SAMPLERS)}"
        )
    return getattr(optuna.samplers, SAMPLERS[name])(seed=seed)


class OptunaSampler(Strategy):
    """``sampler``: an ``optuna.samplers.BaseSampler`` (``optuna:NAME`` builds one, seeded)."""

    name = "optuna"
    several_objectives = True

    def __init__(
        self, space: Space, *, sampler: Any = None, directions: tuple[str, ...] | None = None, **kw: Any
    ) -> None:
        super().__init__(space, **kw)
        optuna = optuna_module()
        if sampler is None:
            sampler = optuna.samplers.TPESampler(seed=kw.get("seed"))
        if not isinstance(sampler, optuna.samplers.BaseSampler):
            raise InvalidInput(f"strategy_kwargs['sampler']: expected an optuna.samplers sampler, got {sampler!r}")
        self.sampler = sampler
        self.name = f"optuna:{type(sampler).__name__}"
        self.distributions = {n: distribution(p, optuna) for n, p in space.params.items()}
        modes = list(directions or [self.mode])
        self.study = optuna.create_study(
            directions=["maximize" if m == "max" else "minimize" for m in modes], sampler=sampler
        )
        self._asked: dict[int, Any] = {}  # Optuna trial number -> its trial, until ours finishes

    def ask(self) -> Suggestion:
        trial = self.study.ask(self.distributions)
        self._asked[trial.number] = trial
        params = {n: decoded(self.space.params[n], v) for n, v in trial.params.items()}
        return Suggestion(params, {"optuna_trial": trial.number})

    def tell(self, trial: TrialRecord) -> None:
        super().tell(trial)
        optuna = optuna_module()
        state = {
            "complete": optuna.trial.TrialState.COMPLETE,
            "pruned": optuna.trial.TrialState.PRUNED,
        }.get(trial.state, optuna.trial.TrialState.FAIL)
        done = state == optuna.trial.TrialState.COMPLETE
        values = (trial.info.get("values") or [trial.value]) if done else None
        limits = trial.info.get("constraints") or {}  # samplers that model constraints (TPE, GP, NSGA-II) read them
        asked = self._asked.pop(trial.info.get("optuna_trial"), None)
        if asked is not None:
            for name, value in limits.items():
                asked.set_constraint(name, value)
            self.study.tell(asked, values, state=state)
            return
        params = {n: encoded(self.space.params[n], v) for n, v in trial.params.items() if n in self.distributions}
        if set(params) != set(self.distributions):
            return  # a trial of another space (a warm start that does not fit): nothing to learn from
        self.study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=self.distributions,
                values=values,
                state=state,
                system_attrs={f"constraints:{name}": value for name, value in limits.items()},
            )
        )


def distribution(param: Param, optuna: Any) -> Any:
    """Our parameter as an Optuna distribution; a ``Choice`` by its options' indices (any JSON value)."""
    d = optuna.distributions
    if isinstance(param, Float):
        return d.FloatDistribution(param.low, param.high, log=param.log)
    if isinstance(param, Int):
        return d.IntDistribution(param.low, param.high, log=param.log)
    if isinstance(param, Choice):
        return d.CategoricalDistribution(list(range(len(param.options))))
    if isinstance(param, Bool):
        return d.CategoricalDistribution([False, True])
    raise InvalidInput(f"strategy: Optuna samplers cannot search a {type(param).__name__} parameter")


def decoded(param: Param, value: Any) -> Any:
    return param.options[value] if isinstance(param, Choice) else value


def encoded(param: Param, value: Any) -> Any:
    return param.index(value) if isinstance(param, Choice) else value
