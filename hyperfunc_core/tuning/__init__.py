"""Tuning sweeps: spaces, objectives, strategies, early stopping, study storage and ``tune``."""

from hyperfunc_core.tuning.api import tune
from hyperfunc_core.tuning.export import trials_dataframe
from hyperfunc_core.tuning.objective import ObjectiveResult, TrialContext, TrialPruned
from hyperfunc_core.tuning.pruners import (
    HyperbandPruner,
    PercentilePruner,
    Pruner,
    StudyReports,
    SuccessiveHalvingPruner,
)
from hyperfunc_core.tuning.space import Bool, Choice, Float, Int, Space, SpaceError
from hyperfunc_core.tuning.strategies import Strategy, Suggestion, TrialRecord, register_strategy
from hyperfunc_core.tuning.study_store import MemoryStudyStore, SQLStudyStore, StudyStore

__all__ = [
    "Bool",
    "Choice",
    "Float",
    "Int",
    "HyperbandPruner",
    "MemoryStudyStore",
    "ObjectiveResult",
    "PercentilePruner",
    "Pruner",
    "SQLStudyStore",
    "Space",
    "SpaceError",
    "Strategy",
    "StudyReports",
    "StudyStore",
    "SuccessiveHalvingPruner",
    "Suggestion",
    "TrialContext",
    "TrialPruned",
    "TrialRecord",
    "register_strategy",
    "trials_dataframe",
    "tune",
]
