"""The tables every engine writes to: one schema for SQLite and PostgreSQL.

JSON columns hold the small structured values (parameters, metrics, configs); tensors and
models never go in the database: they are files under the run's output folder and a row
holds their path.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _json(default_factory=dict) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False))


class Study(SQLModel, table=True):
    """A named tuning sweep; trials of the same study resume and share results."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    metric: str = "score"
    mode: str = "max"
    strategy: str = "random"
    space: dict = _json()
    settings: dict = _json()
    created_at: datetime = Field(default_factory=utcnow)


class Trial(SQLModel, table=True):
    """One evaluation of the objective with one set of parameters."""

    __table_args__ = (
        UniqueConstraint("study_id", "number", name="uq_trial_study_number"),
        UniqueConstraint("study_id", "param_key", name="uq_trial_study_param_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True)
    number: int
    trial_id: str = Field(index=True)
    state: str = Field(default="running", index=True)  # running | complete | failed | pruned | interrupted
    params: dict = _json()
    # Set only where a strategy must never run the same point twice (grid search).
    param_key: str | None = Field(default=None)
    score: float | None = None
    value: float | None = None  # the monitored metric, the one `mode` ranks by
    metrics: dict = _json()
    artifacts: dict = _json()
    info: dict = _json()  # strategy data: rationale, parent, depth
    error: str | None = Field(default=None, sa_column=Column(Text))
    worker: str | None = None
    heartbeat_at: datetime | None = None  # refreshed while the trial runs; a stale one can be reclaimed
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class TrialReport(SQLModel, table=True):
    """One ``ctx.report(step=..., **metrics)`` call, stored as it happens."""

    id: int | None = Field(default=None, primary_key=True)
    trial_id: int = Field(foreign_key="trial.id", index=True)
    step: int
    metrics: dict = _json()
    created_at: datetime = Field(default_factory=utcnow)


class EvolutionRun(SQLModel, table=True):
    """A run of the agent-evolution loop; its archive lives in ``output_dir``."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    output_dir: str
    config: dict = _json()
    spec: dict = _json()  # what a worker needs to run it again from its name (evolution/spec.py)
    status: str = "running"
    best_score: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class Generation(SQLModel, table=True):
    """One generation of an evolution run, mirrored from its archive entry."""

    __table_args__ = (UniqueConstraint("run_id", "gen_id", name="uq_generation_run_gen"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="evolutionrun.id", index=True)
    gen_id: str
    parent_id: str | None = None
    status: str = "running"
    valid_parent: bool = False
    score: float | None = None
    scores: dict = _json()
    patch_files: list = _json(list)
    meta: dict = _json()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)


class ESRun(SQLModel, table=True):
    """An ES training run of a HyperSystem; checkpoints live in ``output_dir``."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    output_dir: str
    config: dict = _json()
    spec: dict = _json()  # what a worker needs to run it again from its name (hyper/training_spec.py)
    seed: int | None = None
    status: str = "running"
    best_score: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class ESEpoch(SQLModel, table=True):
    """A finished ES epoch: its metrics and the checkpoint written at its end."""

    __table_args__ = (UniqueConstraint("run_id", "epoch", name="uq_esepoch_run_epoch"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="esrun.id", index=True)
    epoch: int
    metrics: dict = _json()
    checkpoint_path: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
