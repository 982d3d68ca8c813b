"""A flow's outcome handed to its caller in this process, whatever the API's copy of its final state.

Our flows do not persist their results (a stage's stored result would be handed to the wrong
epoch on a retry; see ``flows/step_runner.py``). Prefect's ``flow()`` returns ``state.result()``,
and when the final state came back from the API (a state change retried after a busy or slow
answer, which the server had already taken), that state has no data: ``MissingResult``, and a
training whose every epoch finished dies of its bookkeeping (it happened here to one of two runs
of the shape-classifier benchmark on a SQLite server). So a flow function hands its value (or its error)
to ``keep``/``keep_error`` on its way out, and ``call_flow`` returns that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_local = threading.local()  # sync flows run their function in the calling thread


def _holders() -> list[dict]:
    if not hasattr(_local, "holders"):
        _local.holders = []
    return _local.holders


def keep(value: T) -> T:
    """The flow's return value, for ``call_flow``'s caller."""
    if _holders():
        _holders()[-1]["value"] = value
    return value


def keep_error(error: BaseException) -> None:
    """The exception the flow raises, for ``call_flow``'s caller."""
    if _holders():
        _holders()[-1]["error"] = error


def call_flow(run: Callable[[], Any]) -> Any:
    """``run()`` calls a flow with ``return_state=True``; what the flow kept, else its state's result."""
    holder: dict = {}
    _holders().append(holder)
    try:
        state = run()
    finally:
        _holders().pop()
    if "error" in holder:
        raise holder["error"]
    if "value" in holder:
        return holder["value"]
    return state.result()
