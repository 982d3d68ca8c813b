"""The Prefect side of the engines' runner seam: each step a task, each stage a subflow.

A stage's subflow (an ES epoch, a generation) is named after its run (``<run>-epoch-3``,
``<run>-gen-2``) and its parameters say which run and which part, so the UI ties it to its run.
Subflows send no heartbeats of their own: the run's flow does, and a heartbeat thread costs a
subflow about a second at its end.
"""

from __future__ import annotations

import concurrent.futures as cf
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from prefect import flow
from prefect.context import FlowRunContext, SettingsContext, get_settings_context
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

from flows.results import call_flow, keep, keep_error
from hyperfunc_core.steps import StepFailed
from tasks.carry import carry
from tasks.steps import step_task_for

T = TypeVar("T")

_STAGES: dict[str, tuple[Callable[..., Any], tuple]] = {}  # key -> the stage's function and arguments


# A stage's result is never persisted: a retried parent flow run matches its subflows by call order,
# so epoch 2 of a run resumed from a checkpoint would be handed epoch 0's stored result. Unpersisted,
# a finished subflow runs again, and the keyed steps inside it return their kept results.
@flow(name="stage", persist_result=False, log_prints=True)
def stage_flow(run: str, part: str, key: str) -> Any:
    fn, args = _STAGES[key]
    try:
        return keep(fn(*args))
    except BaseException as error:
        keep_error(error)
        raise


class PrefectRunner:
    """Steps as tasks of the current flow (on its task runner), stages as its subflows."""

    def __init__(self, run: str) -> None:
        self.run_name = run
        self._quiet: tuple[Any, Any] | None = None  # (the settings it was made from, without heartbeats)

    def run(
        self,
        step: str,
        fn: Callable[..., T],
        *args: Any,
        label: str,
        retries: int | None = None,
        note: Callable[[T], str] | None = None,
        key: str | None = None,
    ) -> T:
        try:
            return step_task_for(step, retries, key is not None)(carry(fn), carry(args), label, carry(note), key)
        except StepFailed as failed:
            return failed.outcome

    def submit(
        self,
        step: str,
        fn: Callable[..., T],
        *args: Any,
        label: str,
        retries: int | None = None,
        note: Callable[[T], str] | None = None,
        key: str | None = None,
    ) -> cf.Future[T]:
        prefect_future = step_task_for(step, retries, key is not None).submit(
            carry(fn), carry(args), label, carry(note), key
        )
        out: cf.Future = cf.Future()

        def relay(_: Any) -> None:
            try:
                out.set_result(prefect_future.result())
            except StepFailed as failed:
                out.set_result(failed.outcome)
            except BaseException as exc:  # noqa: BLE001 - the loop records it
                out.set_exception(exc)

        prefect_future.add_done_callback(relay)
        return out

    def stage(self, stage: str, fn: Callable[..., T], *args: Any, label: str) -> T:
        key = uuid.uuid4().hex
        _STAGES[key] = (fn, args)
        try:
            with SettingsContext(profile=get_settings_context().profile, settings=self._without_heartbeats()):
                parent = FlowRunContext.get()  # the stage's steps run where the run's steps run (a Dask cluster)
                subflow = stage_flow.with_options(
                    name=stage,
                    flow_run_name=f"{self.run_name}-{label}",
                    task_runner=parent.task_runner if parent else None,
                )
                try:
                    return call_flow(lambda: subflow(self.run_name, label, key, return_state=True))
                except StepFailed as failed:
                    return failed.outcome
        finally:
            _STAGES.pop(key, None)

    def _without_heartbeats(self) -> Any:
        """The current settings with flow heartbeats off, made once per runner (a settings copy costs
        about 0.2 s here, as much as the rest of a subflow)."""
        current = get_settings_context().settings
        if self._quiet is None or self._quiet[0] is not current:
            self._quiet = (current, current.copy_with_update(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))
        return self._quiet[1]
