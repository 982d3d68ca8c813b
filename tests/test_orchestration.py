"""What the flows share: quiet per-task logs."""

from __future__ import annotations

import logging

import pytest

from flows.task_logs import quiet_task_logs


def passes(level: int, task_name: str) -> bool:
    logger = logging.getLogger("prefect.task_runs")
    record = logger.makeRecord(logger.name, level, __file__, 1, "Finished in state Completed()", (), None,
                               extra={"task_name": task_name})
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
