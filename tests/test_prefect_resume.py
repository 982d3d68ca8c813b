"""Prefect reuses a persisted task result when a failed flow run is retried."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.usefixtures("prefect_harness")

BODY_RUNS = {"first": 0, "second": 0}


def test_flow_retry_reuses_the_finished_task(tmp_path):
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    @task(persist_result=True)
    def first_step(x: int) -> int:
        BODY_RUNS["first"] += 1
        return x * 2

    @task(persist_result=True)
    def second_step(y: int) -> int:
        BODY_RUNS["second"] += 1
        if BODY_RUNS["second"] == 1:
            raise RuntimeError("transient failure in the second step")
        return y + 1

    @flow(retries=1, retry_delay_seconds=0, persist_result=True)
    def two_steps(x: int) -> int:
        return second_step(first_step(x))

    state = two_steps(3, return_state=True)
    assert state.is_completed() and state.result() == 7
    assert BODY_RUNS == {"first": 1, "second": 2}

    async def task_states() -> dict[str, list[str]]:
        async with get_client() as client:
            flow_run = await client.read_flow_run(state.state_details.flow_run_id)
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
            )
            assert flow_run.run_count == 2  # the flow run itself was retried
            out: dict[str, list[str]] = {}
            for run in runs:
                out.setdefault(run.task_key.split("-")[0], []).append(run.state.name)
            return out

    states = asyncio.run(task_states())
    # First attempt: first_step Completed, second_step Failed. Retry: first_step Cached
    # (its body did not run again), second_step ran again and Completed.
    assert sorted(states["first_step"]) == ["Cached", "Completed"], states
    assert sorted(states["second_step"]) == ["Completed", "Failed"], states
