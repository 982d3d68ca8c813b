"""Per-task log chatter for loops that run thousands of small tasks.

Prefect logs "Finished in state Completed()" for every task run, to the console and to
the API. For a sweep of a thousand trials that is a thousand lines nobody reads, and on a
small machine it costs a few milliseconds a trial. The states themselves still reach the
API as events, so the UI's history is complete; only log records below the configured
level (``HYPERFUNC_TASK_LOG_LEVEL``, default WARNING) are dropped, for the named tasks only.
A step that failed as a recorded outcome (``StepFailed``: a failed trial) logs its one-line
reason without a traceback; the trial's full error is in the study.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from hyperfunc_core.steps import StepFailed
from hyperfunc_core.validation import InvalidInput

_lock = threading.Lock()
_active: dict[str, int] = {}  # task name -> how many loops want it quiet


class _QuietTasks(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.level = logging.WARNING

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "task_name", None) not in _active:
            return True
        if record.exc_info and isinstance(record.exc_info[1], StepFailed):
            record.exc_info = record.exc_text = None  # a recorded failure: its one line says it all
        return record.levelno >= self.level


_filter = _QuietTasks()


@contextmanager
def quiet_task_logs(*task_names: str, level: str | None = None) -> Iterator[None]:
    """While inside, drop log records below ``level`` from task runs of ``task_names``."""
    from hyperfunc_core.settings import get_settings

    name = (level or get_settings().task_log_level).upper()
    numeric = logging.getLevelName(name)
    if not isinstance(numeric, int):
        raise InvalidInput(f"task_log_level: expected a logging level such as 'INFO' or 'WARNING', got {name!r}")
    logger = logging.getLogger("prefect.task_runs")
    with _lock:
        _filter.level = numeric
        for task in task_names:
            _active[task] = _active.get(task, 0) + 1
        logger.addFilter(_filter)  # adding the same filter twice is a no-op
    try:
        yield
    finally:
        with _lock:
            for task in task_names:
                _active[task] -= 1
                if not _active[task]:
                    del _active[task]
            if not _active:
                logger.removeFilter(_filter)
