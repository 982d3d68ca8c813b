"""Run reports: a markdown summary and PNG plots written under each run's output folder."""

from hyperfunc_core.reports.importance import parameter_importance
from hyperfunc_core.reports.writers import (
    Report,
    evolution_report,
    sweep_report,
    training_report,
)

__all__ = ["Report", "evolution_report", "parameter_importance", "sweep_report", "training_report"]
