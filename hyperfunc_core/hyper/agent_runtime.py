"""``HyperSystem.start()``: serve a system in a long-running loop, the agent-style runtime.

Semantics (what the tests hold it to):

- **Inputs** come from ``submit(**inputs)`` (returns a ``Future`` of a ``RunResult``), and/or
  from ``source``: a ``queue.Queue`` of input dicts (``None`` in the queue means end of
  input), or any iterable of input dicts, read by a feeder thread.
- **θ**: each input runs with the system's θ as it is when the run starts, so
  ``system.set_hp_state`` or ``runtime.reload()`` take effect from the next input on and
  never change a run half-way. ``trained=True`` (or a run name) loads θ from the latest
  finished ES training run before the first input; ``reload_every_s`` keeps watching for
  newer finished runs and switches to them.
- **Records**: every run keeps the ``CallRecord`` of each hyperfunction call it made;
  ``history()``, ``call_history()`` and ``call_summary()`` read them, as for an evaluation.
- **Failures**: an input whose run raises gets a ``RunResult`` with ``error`` set; the loop
  goes on. ``on_result`` (if given) sees every result; an exception in it is logged.
- **Stopping**: ``stop()`` refuses new inputs, finishes what is queued (``drain=True``) or
  cancels it, and joins the threads. An iterable source that runs out, or ``None`` put in
  a queue source, ends the loop the same way once the queue is empty. ``wait()`` blocks
  until the runtime has stopped; the runtime is also a context manager.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hyperfunc_core.hyper.tracing import CallRecord, CallSummary, summarize_calls
from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:
    from hyperfunc_core.hyper.system import HyperSystem

log = logging.getLogger("hyperfunc.runtime")
_STOP = object()


@dataclass
class RunResult:
    """One input served: what it returned or raised, and every hyperfunction call it made."""

    id: int
    inputs: dict[str, Any]
    output: Any = None
    error: str | None = None
    calls: list[CallRecord] = field(default_factory=list)
    started_at: float = 0.0
    latency_s: float = 0.0
    theta_from: str | None = None  # the training run θ came from (None: the system's own θ)

    @property
    def ok(self) -> bool:
        return self.error is None


class AgentRuntime:
    """Runs a ``HyperSystem`` on a stream of inputs until asked to stop (see the module doc)."""

    def __init__(
        self,
        system: "HyperSystem",
        source: Iterable[dict] | queue.Queue | None = None,
        *,
        on_result: Callable[[RunResult], None] | None = None,
        workers: int = 1,
        trained: bool | str = False,
        storage: str | None = None,
        reload_every_s: float | None = None,
        environment_state: Any = None,
        history_size: int = 1000,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidInput(f"workers: expected an integer >= 1, got {workers!r}")
        if on_result is not None and not callable(on_result):
            raise InvalidInput(f"on_result: expected a callable taking a RunResult, got {on_result!r}")
        if source is not None and not isinstance(source, queue.Queue) and not isinstance(source, Iterable):
            raise InvalidInput(
                f"source: expected a queue.Queue or an iterable of input dicts, got {type(source).__name__}"
            )
        if isinstance(source, (str, bytes, dict)):
            raise InvalidInput(
                f"source: expected a queue.Queue or an iterable of input dicts, got {type(source).__name__}"
            )
        if reload_every_s is not None and not reload_every_s > 0:
            raise InvalidInput(f"reload_every_s: expected a positive number of seconds or None, got {reload_every_s!r}")
        if not isinstance(trained, (bool, str)):
            raise InvalidInput(f"trained: expected True (latest finished run), a run name or False, got {trained!r}")
        if reload_every_s is not None and trained is False:
            trained = True
        system._check_environment(environment_state)
        self.system, self.source, self.on_result, self.workers = system, source, on_result, workers
        self.trained, self.storage, self.reload_every_s = trained, storage, reload_every_s
        self.environment_state = environment_state
        self.theta_from: str | None = None
        self._inbox: queue.Queue = queue.Queue()
        self._history: deque[RunResult] = deque(maxlen=history_size)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._accepting = False
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watch_stop = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> "AgentRuntime":
        if self._threads:
            raise RuntimeError("this runtime has already been started")
        if self.trained:
            self.reload(None if self.trained is True else self.trained)
        self._accepting = True
        self._threads = [
            threading.Thread(target=self._work, name=f"hyperfunc-runtime-{i}", daemon=True) for i in range(self.workers)
        ]
        if self.source is not None:
            self._threads.append(threading.Thread(target=self._feed, name="hyperfunc-runtime-feed", daemon=True))
        if self.reload_every_s is not None:
            self._threads.append(threading.Thread(target=self._watch, name="hyperfunc-runtime-watch", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self, drain: bool = True, timeout: float | None = None) -> None:
        """Refuse new inputs, finish (or cancel) the queued ones, and join every thread."""
        with self._lock:
            self._accepting = False
        self._watch_stop.set()
        if not drain:
            while True:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    item[2].cancel()
        for _ in range(self.workers):
            self._inbox.put(_STOP)
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the runtime stops (its source ended or ``stop`` was called); True if it did."""
        return self._stopped.wait(timeout)

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stopped.is_set()

    def __enter__(self) -> "AgentRuntime":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inputs --------------------------------------------------------------------------
    def submit(self, **inputs: Any) -> "Future[RunResult]":
        """Queue one input; the future resolves to its ``RunResult`` (failures included)."""
        future: Future = Future()
        with self._lock:
            if not self._accepting:
                raise RuntimeError("submit: the runtime is not running (start() it, or it was stopped)")
            self._inbox.put((next(self._ids), inputs, future))
        return future

    def ask(self, timeout: float | None = None, **inputs: Any) -> Any:
        """Run one input and return its output, raising ``RuntimeError`` with its error if it failed."""
        result = self.submit(**inputs).result(timeout)
        if not result.ok:
            raise RuntimeError(f"run failed: {result.error}")
        return result.output

    def reload(self, run_name: str | None = None) -> str:
        """Load θ from ES run ``run_name`` (default: the latest finished one); later inputs use it."""
        name = self.system.load_trained(run_name, self.storage)
        if name != self.theta_from:
            log.info("runtime: θ from training run %s", name)
        self.theta_from = name
        return name

    # -- what happened -----------------------------------------------------------------
    def history(self, last: int | None = None) -> list[RunResult]:
        results = list(self._history)
        return results if last is None else results[-last:]

    def call_history(self, last: int | None = None) -> list[CallRecord]:
        return [r for result in self.history(last) for r in result.calls]

    def call_summary(self, last: int | None = None) -> dict[str, CallSummary]:
        return summarize_calls(self.call_history(last))

    # -- threads ---------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._inbox.get()
            if item is _STOP:
                return
            run_id, inputs, future = item
            if not future.set_running_or_notify_cancel():
                continue
            result = self._serve(run_id, inputs)
            future.set_result(result)
            if self.on_result is not None:
                try:
                    self.on_result(result)
                except Exception:  # noqa: BLE001 - a broken callback must not stop the loop
                    log.exception("runtime: on_result failed for input %s", run_id)

    def _serve(self, run_id: int, inputs: dict[str, Any]) -> RunResult:
        records: list[CallRecord] = []
        given = dict(inputs) if isinstance(inputs, dict) else {"input": inputs}
        result = RunResult(run_id, given, calls=records, started_at=time.time(), theta_from=self.theta_from)
        t0 = time.perf_counter()
        try:
            if not isinstance(inputs, dict):
                raise InvalidInput(
                    f"inputs: expected a dict of keyword arguments for run(), got {type(inputs).__name__}"
                )
            result.output = self.system._run_one(dict(self.system._theta), inputs, self.environment_state, records)
        except Exception as exc:  # noqa: BLE001 - recorded; the loop goes on
            result.error = f"{type(exc).__name__}: {exc}"
        result.latency_s = time.perf_counter() - t0
        self._history.append(result)
        return result

    def _feed(self) -> None:
        """Move inputs from ``source`` to the inbox; the end of the source stops the runtime."""
        source = self.source
        if isinstance(source, queue.Queue):
            while self._accepting:
                try:
                    item = source.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is None:
                    break
                self._feed_one(item)
        else:
            for item in source:
                if not self._accepting or not self._feed_one(item):
                    break
        threading.Thread(target=self.stop, name="hyperfunc-runtime-stop", daemon=True).start()

    def _feed_one(self, item: Any) -> bool:
        try:
            self.submit(**item) if isinstance(item, dict) else self._inbox.put((next(self._ids), item, Future()))
            return True
        except RuntimeError:  # stopped meanwhile
            return False

    def _watch(self) -> None:
        while not self._watch_stop.wait(self.reload_every_s):
            try:
                self.reload(None if self.trained is True else self.trained)
            except ValueError as exc:
                log.debug("runtime: no θ to reload yet: %s", exc)
