"""Stage grouping for async hyperfunction calls: the HTTP counterpart of one vmapped forward.

When many runs of an async ``run`` go at once (every example of an evaluation, every
candidate × example of a population), each top-level call of an async hyperfunction is
held at a ``StageGate`` until every live run is either waiting at the gate or finished.
The gate then releases the waiting calls together, one group per hyperfunction: all
candidates' first-stage LLM calls go out as one wave (bounded by the gateway's
concurrency limit and requests-per-minute pace), then all second-stage calls, and so on.
A run that fails or ends early leaves the gate, so it never holds the others back.

Calls made from inside another hyperfunction's body are not held (the outer call already
belongs to a stage), and a call's ``timeout_s`` starts when its stage is released.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from hyperfunc_core.validation import InvalidInput

StageCall = Callable[[int, int], Coroutine[Any, Any, Any]]  # (stage, group_size) -> the call itself


@dataclass
class _Held:
    run: object  # the run (its Invocation) the call belongs to
    name: str
    start: StageCall
    context: contextvars.Context
    result: asyncio.Future


class StageGate:
    """Holds calls until every live run waits, then releases them grouped per hyperfunction."""

    def __init__(self, runs: int) -> None:
        if runs < 1:
            raise InvalidInput(f"runs: expected at least one run, got {runs!r}")
        self.live = runs
        self.stages = 0
        self.group_sizes: list[tuple[str, int]] = []  # (hyperfunction, calls) per released stage, in order
        self._held: list[_Held] = []

    async def call(self, run: object, name: str, start: StageCall) -> Any:
        """Wait for this call's stage, then run ``start(stage, group_size)`` in the caller's context."""
        held = _Held(run, name, start, contextvars.copy_context(), asyncio.get_running_loop().create_future())
        self._held.append(held)
        self._release_if_all_waiting()
        return await held.result

    def run_finished(self) -> None:
        """A run ended (returned or raised): it no longer counts as one the gate waits for."""
        self.live -= 1
        self._release_if_all_waiting()

    def _release_if_all_waiting(self) -> None:
        if not self._held or len({id(h.run) for h in self._held}) < self.live:
            return
        held, self._held = self._held, []
        groups: dict[str, list[_Held]] = {}
        for h in held:
            groups.setdefault(h.name, []).append(h)
        loop = asyncio.get_running_loop()
        for name, group in groups.items():
            self.stages += 1
            self.group_sizes.append((name, len(group)))
            for h in group:
                task = loop.create_task(h.start(self.stages, len(group)), context=h.context)
                task.add_done_callback(lambda t, fut=h.result: _settle(fut, t))


def _settle(fut: asyncio.Future, task: asyncio.Task) -> None:
    if fut.done():
        return
    if task.cancelled():
        fut.cancel()
    elif task.exception() is not None:
        fut.set_exception(task.exception())
    else:
        fut.set_result(task.result())
