"""The run a flow run works on: its named run, or with ``dated`` a new one named after the tick."""

from __future__ import annotations

from datetime import datetime, timezone

from prefect.runtime import flow_run


def run_name_for(name: str, dated: bool) -> str:
    """``name``, or ``<name>-<YYYYmmdd-HHMMSS>`` of when the flow run was scheduled to start (its
    schedule's tick; now, for a run started by hand), so each tick of a dated schedule starts a run."""
    if not dated:
        return name
    return f"{name}-{flow_run.scheduled_start_time or datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
