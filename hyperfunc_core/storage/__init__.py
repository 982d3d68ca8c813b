"""Experiment storage: sqlmodel tables and the engines that hold them."""

from hyperfunc_core.storage.engine import describe_url, dispose_engines, get_engine, normalize_url, session_scope
from hyperfunc_core.storage.models import (
    ESEpoch,
    ESRun,
    EvolutionRun,
    Generation,
    Study,
    Trial,
    TrialReport,
    utcnow,
)

__all__ = [
    "ESEpoch",
    "ESRun",
    "EvolutionRun",
    "Generation",
    "Study",
    "Trial",
    "TrialReport",
    "describe_url",
    "dispose_engines",
    "get_engine",
    "normalize_url",
    "session_scope",
    "utcnow",
]
