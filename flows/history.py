"""Prefect's view of past runs: each run's latest flow run and its state, for ``hyperfunc runs``."""

from __future__ import annotations

from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.sorting import FlowRunSort

from hyperfunc_core.history.runs import RunSummary


def attach_flow_runs(runs: list[RunSummary]) -> None:
    """Each run's latest flow run and its state, where Prefect's API knows one."""
    if not runs:
        return
    names = [r.flow_run_name for r in runs]
    try:
        with get_client(sync_client=True) as client:
            flow_runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names)),
                sort=FlowRunSort.START_TIME_DESC,
                limit=200,
            )
    except Exception as exc:  # noqa: BLE001 - the database's view is still worth showing
        for r in runs:
            r.flow_state = f"unknown ({type(exc).__name__})"
        return
    latest: dict[str, Any] = {}
    for fr in flow_runs:
        latest.setdefault(fr.name, fr)
    for r in runs:
        fr = latest.get(r.flow_run_name)
        if fr is None:
            continue
        r.flow_run, r.flow_state = fr.name, fr.state.name if fr.state else None
        if fr.total_run_time and fr.total_run_time.total_seconds() > 0 and r.duration_s is None:
            r.duration_s = fr.total_run_time.total_seconds()
