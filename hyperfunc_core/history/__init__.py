"""Past runs of all three engines, and replaying a finished trial, ES epoch or generation."""

from hyperfunc_core.history.replay import ReplayOutcome, replay, replay_epoch, replay_generation, replay_trial
from hyperfunc_core.history.runs import RunSummary, list_runs

__all__ = ["ReplayOutcome", "RunSummary", "list_runs", "replay", "replay_epoch", "replay_generation", "replay_trial"]
