"""What a hyperfunction call sees while a system runs: which θ to use, where to record.

``HyperSystem`` opens an ``Invocation`` around each ``run`` (or around one vmapped
forward over many candidates and examples); hyperfunctions read it through a context
variable, so nested and concurrent runs (threads, asyncio tasks) never mix their θ.
"""

from __future__ import annotations

import contextvars
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from hyperfunc_core.hyper.tracing import CallRecord


@dataclass
class Invocation:
    theta: dict[str, torch.Tensor]
    resolve_missing: Callable[[Any], torch.Tensor]  # auto-registers a hyperfunction on first call
    records: list[CallRecord] | None = None
    example_index: int | None = None
    candidate_index: int | None = None
    batched: bool = False
    batch_size: int = 1
    calls: Counter = field(default_factory=Counter)
    current: list[str] = field(default_factory=list)  # the hyperfunctions now executing, innermost last
    failed_in: str | None = None  # the innermost hyperfunction an exception came out of
    stages: Any = None  # the StageGate grouping this run's async calls with its siblings', if any
    owner: Any = None  # the HyperSystem running this invocation (its ``llm`` gateway serves LLM calls)


_ACTIVE: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar("hyperfunc_invocation", default=None)
# The usage meter of the hyperfunction call now executing (None outside one): LLM calls add to it.
_CALL_METER: contextvars.ContextVar[dict | None] = contextvars.ContextVar("hyperfunc_call_meter", default=None)


def active() -> Invocation | None:
    return _ACTIVE.get()


@contextmanager
def _bound(var: contextvars.ContextVar, value: Any) -> Iterator[Any]:
    """``var`` set to ``value`` for the block, restored after it."""
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)


def invocation(inv: Invocation) -> AbstractContextManager[Invocation]:
    return _bound(_ACTIVE, inv)


def call_meter() -> dict | None:
    """The meter of the hyperfunction call now executing, or None outside any call."""
    return _CALL_METER.get()


def metering(meter: dict) -> AbstractContextManager[dict]:
    return _bound(_CALL_METER, meter)
