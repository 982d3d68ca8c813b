"""What the flows share: quiet per-task logs, and each step's retry policy under the Prefect runner."""

from __future__ import annotations

import logging

import pytest

from flows.task_logs import quiet_task_logs


def passes(level: int, task_name: str) -> bool:
    logger = logging.getLogger("prefect.task_runs")
    record = logger.makeRecord(
        logger.name, level, __file__, 1, "Finished in state Completed()", (), None, extra={"task_name": task_name}
    )
    return logger.filter(record)


def test_quiet_task_logs_drops_chatter_of_the_named_tasks_only():
    assert passes(logging.INFO, "run-trial")
    with quiet_task_logs("run-trial"):
        assert not passes(logging.INFO, "run-trial")
        assert passes(logging.WARNING, "run-trial")
        assert passes(logging.INFO, "some-other-task")
        with quiet_task_logs("run-trial"):  # nested loops: the outer one still wants quiet after the inner ends
            pass
        assert not passes(logging.INFO, "run-trial")
    assert passes(logging.INFO, "run-trial")
    with quiet_task_logs("run-trial", level="INFO"):
        assert passes(logging.INFO, "run-trial") and not passes(logging.DEBUG, "run-trial")


def test_quiet_task_logs_rejects_an_unknown_level():
    with pytest.raises(ValueError, match="task_log_level"):
        with quiet_task_logs("run-trial", level="LOUD"):
            pass


def test_step_retries_follow_each_steps_policy_and_a_recorded_failure_reaches_the_loop(prefect_harness):
    from prefect import flow

    from flows.step_runner import PrefectRunner
    from hyperfunc_core.executors.base import PatchError
    from hyperfunc_core.steps import StepFailed

    calls = {"patch": 0, "busy": 0, "trial": 0}

    def patch() -> None:
        calls["patch"] += 1
        raise PatchError("does not apply")

    def busy() -> str:
        calls["busy"] += 1
        if calls["busy"] == 1:
            raise ConnectionError("container engine busy")
        return "up"

    def trial() -> str:
        calls["trial"] += 1
        raise StepFailed("trial failed", "recorded as failed")

    @flow(persist_result=False)
    def steps() -> tuple:
        runner = PrefectRunner("retries")
        with pytest.raises(PatchError):
            runner.run("setup-executor", patch, label="patch")  # never applies: not retried
        started = runner.run("setup-executor", busy, label="busy")  # declared: 2 retries with back-off
        outcome = runner.submit("run-trial", trial, label="trial", retries=1).result()  # the caller's retries
        return started, outcome

    assert steps() == ("up", "recorded as failed")
    assert calls == {"patch": 1, "busy": 2, "trial": 2}
