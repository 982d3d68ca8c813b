"""Prefect's kept results in the project's own flows: an ES epoch cut short resumes from its
checkpoint, and the step blocks it had finished come back from Prefect's result storage (``Cached``
task runs) instead of being trained again."""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "es"))
import affine  # noqa: E402

pytestmark = pytest.mark.usefixtures("prefect_harness")

STEPS_RUN: list[int] = []  # the step number of every ES step whose body ran
BREAK_AT = {"step": None}  # the step at which every candidate scores NaN (the run fails)
CURRENT = {"step": -1}


def _metric(preds, expected):
    return math.nan if CURRENT["step"] == BREAK_AT["step"] else affine.mse_metric(preds, expected)


def _task_states(run_name: str) -> dict[str, list[str]]:
    """Each task run's name and states, over every flow run (and epoch subflow) of the run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterName

    async def read() -> dict[str, list[str]]:
        async with get_client() as client:
            flow_runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=run_name))
            )
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[r.id for r in flow_runs]))
            )
            out: dict[str, list[str]] = {}
            for run in runs:
                out.setdefault(run.name, []).append(run.state.name)
            return out

    return asyncio.run(read())


@pytest.mark.slow
def test_a_resumed_es_run_reuses_the_step_blocks_its_cut_epoch_finished(tmp_path, monkeypatch):
    from hyperfunc_core.hyper import training

    real_step = training.es_step

    def counted_step(job, state, evaluate=training.evaluate_candidates):
        CURRENT["step"] = state.step
        STEPS_RUN.append(state.step)
        return real_step(job, state, evaluate)

    monkeypatch.setattr(training, "es_step", counted_step)
    db = f"sqlite:///{tmp_path / 'es.db'}"
    options = dict(steps=20, steps_per_epoch=10, batch_size=16, run_name="cut", storage=db, resume=True)

    BREAK_AT["step"] = 13  # epoch 1 fails at its fourth step: steps 10-12 finished
    with pytest.raises(Exception, match="non-finite"):
        affine.AffineSystem().optimize(affine.TRAIN, _metric, **options)
    assert STEPS_RUN == list(range(14))

    BREAK_AT["step"] = None
    STEPS_RUN.clear()
    result = affine.AffineSystem().optimize(affine.TRAIN, _metric, **options)
    assert result["resumed_from_epoch"] == 1
    assert STEPS_RUN == list(range(13, 20))  # steps 10-12 were not trained again

    states = _task_states("train-cut")
    for step in (10, 11, 12):
        assert sorted(states[f"epoch-1-step-{step}"]) == ["Cached", "Completed"], states
    assert sorted(states["epoch-1-step-13"]) == ["Completed", "Failed"], states
    assert states["epoch-0-step-0"] == ["Completed"], states  # epoch 0 was checkpointed: never run again

    # A run made again under the same name does not read the old run's kept results.
    from hyperfunc_core.storage import ESEpoch, ESRun, session_scope

    with session_scope(db) as session:
        for row in [*session.query(ESEpoch).all(), *session.query(ESRun).all()]:
            session.delete(row)
        session.commit()
    STEPS_RUN.clear()
    affine.AffineSystem().optimize(affine.TRAIN, _metric, **options)
    assert STEPS_RUN == list(range(20))
