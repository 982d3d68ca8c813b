"""``@hyperfunction``: a function whose behaviour depends on a trainable θ.

The body is written for one input and one θ: ``def f(x, hp): return x @ hp.weight.T``.
Inside ``HyperSystem.run`` the θ comes from the system (registered automatically on the
first call); elsewhere pass ``hp=`` yourself.

Runtime policy, enforced on every call:

- ``retries``: a call that raises is attempted again, up to ``retries`` more times.
- ``timeout_s``: an ``async`` body is cancelled (``asyncio.wait_for``). A sync body runs on
  a helper thread and the caller stops waiting; Python cannot kill the thread, so its work
  may finish in the background. Inside a vmapped forward the body runs inline (vmap
  transforms do not cross threads) and an overrun is detected when it returns.
- ``max_calls``: calls allowed **per run** (per ``run()`` invocation: one example of one
  candidate, or one vmapped forward); it guards agent-style loops that call a function
  again and again. It is not a per-process quota.

Exceeding a limit raises ``HyperFunctionError`` (``TimeoutError`` for timeouts) from
the call; ``HyperSystem.evaluate`` reports it, ``evaluate_population`` records the
candidate as failed and moves on. The guarantees, and what they do not cover, are stated
with their tests in ``docs/runtime-policy.md``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextvars
import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

import torch

from hyperfunc_core.devices import on_device
from hyperfunc_core.hyper.hp_types import hp_shape
from hyperfunc_core.hyper.runtime import Invocation, active, call_meter, metering
from hyperfunc_core.hyper.tracing import CallRecord
from hyperfunc_core.observability import telemetry
from hyperfunc_core.validation import InvalidInput


class HyperFunctionError(RuntimeError):
    """A hyperfunction's policy refused or gave up on a call."""


class MaxCallsExceeded(HyperFunctionError):
    pass


class HyperFunction:
    """The callable ``@hyperfunction`` returns; ``.fn`` is the undecorated body."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        hp_type: Any,
        name: str | None = None,
        optimize_hparams: bool = True,
        retries: int = 0,
        timeout_s: float | None = None,
        max_calls: int | None = None,
    ) -> None:
        if not callable(fn):
            raise InvalidInput(f"fn: expected a function, got {fn!r}")
        self.shape = hp_shape(hp_type)
        if "hp" not in inspect.signature(fn).parameters:
            raise InvalidInput(f"{fn.__name__}: a hyperfunction takes its θ as a parameter named 'hp'")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidInput(f"retries: expected an integer >= 0, got {retries!r}")
        if timeout_s is not None and (not isinstance(timeout_s, (int, float)) or timeout_s <= 0):
            raise InvalidInput(f"timeout_s: expected a positive number of seconds or None, got {timeout_s!r}")
        if max_calls is not None and (isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1):
            raise InvalidInput(f"max_calls: expected an integer >= 1 or None, got {max_calls!r}")
        self.fn, self.hp_type, self.name = fn, hp_type, name or fn.__name__
        self.optimize_hparams = optimize_hparams
        self.retries, self.timeout_s, self.max_calls = retries, timeout_s, max_calls
        self.is_async = inspect.iscoroutinefunction(fn)
        fn.hyper_hp_type = hp_type  # type: ignore[attr-defined]
        fn.hyper_prompt = inspect.getdoc(fn)  # type: ignore[attr-defined]
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<hyperfunction {self.name} θ{self.shape}>"

    # -- calling -------------------------------------------------------------------
    def __call__(self, *args: Any, hp: Any = None, **kwargs: Any) -> Any:
        inv = active()
        if hp is None:
            if inv is None:
                raise HyperFunctionError(
                    f"{self.name}: called outside HyperSystem.run without hp=; "
                    f"pass hp= or call it from a system's run()"
                )
            theta = inv.theta.get(self.name)
            if theta is None:
                theta = inv.resolve_missing(self)
            hp = self.hp_type.from_tensor(theta)
            if isinstance(theta, torch.Tensor):  # arguments run() made elsewhere come to θ's device
                args, kwargs = on_device(args, theta.device), on_device(kwargs, theta.device)
        if inv is not None:
            inv.calls[self.name] += 1
            if self.max_calls is not None and inv.calls[self.name] > self.max_calls:
                error = MaxCallsExceeded(f"{self.name}: more than max_calls={self.max_calls} calls in one run")
                self._record(inv, time.time(), 0.0, 0, error)
                raise error
        if self.is_async:
            if (
                inv is not None and inv.stages is not None and call_meter() is None
            ):  # a top-level call: wait for its stage
                return inv.stages.call(
                    inv,
                    self.name,
                    lambda stage, size: self._call_async(inv, args, kwargs, hp, {"stage": stage, "stage_calls": size}),
                )
            return self._call_async(inv, args, kwargs, hp)
        return self._call_sync(inv, args, kwargs, hp)

    def _call_sync(self, inv: Invocation | None, args: tuple, kwargs: dict, hp: Any) -> Any:
        started, t0 = time.time(), time.perf_counter()
        last: BaseException | None = None
        with telemetry.span("hyperfunction.call", **self._span_attributes(inv)) as current, metering({}) as meter:
            for attempt in range(1, self.retries + 2):
                try:
                    result = self._once_sync(inv, args, kwargs, hp)
                    self._record(inv, started, time.perf_counter() - t0, attempt, None, current, meter)
                    return result
                except Exception as exc:  # noqa: BLE001 - retried, then re-raised
                    last = exc
            self._record(inv, started, time.perf_counter() - t0, self.retries + 1, last, current, meter)
        raise last  # type: ignore[misc]

    def _once_sync(self, inv: Invocation | None, args: tuple, kwargs: dict, hp: Any) -> Any:
        if inv is not None:
            inv.current.append(self.name)
        try:
            if self.timeout_s is None:
                return self.fn(*args, hp=hp, **kwargs)
            if inv is not None and inv.batched:  # vmap levels live on this thread: run inline, check after
                t0 = time.perf_counter()
                result = self.fn(*args, hp=hp, **kwargs)
                if time.perf_counter() - t0 > self.timeout_s:
                    raise TimeoutError(f"{self.name}: the call overran timeout_s={self.timeout_s:g}")
                return result
            ctx = contextvars.copy_context()
            pool = cf.ThreadPoolExecutor(1, thread_name_prefix=f"hf-{self.name}")
            try:
                future = pool.submit(ctx.run, self.fn, *args, hp=hp, **kwargs)
                try:
                    return future.result(timeout=self.timeout_s)
                except cf.TimeoutError:
                    raise TimeoutError(
                        f"{self.name}: no result within timeout_s={self.timeout_s:g} "
                        f"(the thread cannot be killed and may still finish)"
                    ) from None
            finally:
                pool.shutdown(wait=False)
        except BaseException:
            if inv is not None and inv.failed_in is None:
                inv.failed_in = self.name
            raise
        finally:
            if inv is not None:
                inv.current.pop()

    async def _call_async(
        self, inv: Invocation | None, args: tuple, kwargs: dict, hp: Any, stage: dict | None = None
    ) -> Any:
        started, t0 = time.time(), time.perf_counter()
        last: BaseException | None = None
        attributes = {**self._span_attributes(inv), **(stage or {})}
        with telemetry.span("hyperfunction.call", **attributes) as current, metering(dict(stage or {})) as meter:
            for attempt in range(1, self.retries + 2):
                try:
                    coro = self.fn(*args, hp=hp, **kwargs)
                    if self.timeout_s is not None:
                        try:
                            result = await asyncio.wait_for(coro, self.timeout_s)
                        except asyncio.TimeoutError:
                            raise TimeoutError(f"{self.name}: cancelled after timeout_s={self.timeout_s:g}") from None
                    else:
                        result = await coro
                    self._record(inv, started, time.perf_counter() - t0, attempt, None, current, meter)
                    return result
                except Exception as exc:  # noqa: BLE001 - retried, then re-raised
                    last = exc
            self._record(inv, started, time.perf_counter() - t0, self.retries + 1, last, current, meter)
        raise last  # type: ignore[misc]

    def _span_attributes(self, inv: Invocation | None) -> dict[str, Any]:
        if inv is None:
            return {"hyperfunction": self.name}
        return {
            "hyperfunction": self.name,
            "example_index": inv.example_index,
            "candidate_index": inv.candidate_index,
            "batched": inv.batched,
            "batch_size": inv.batch_size,
        }

    def _record(
        self,
        inv: Invocation | None,
        started: float,
        latency: float,
        attempts: int,
        error: BaseException | None,
        current: Any = None,
        meter: dict | None = None,
    ) -> None:
        """The call's CallRecord (when its evaluation traces), its span's outcome and its metrics.

        ``meter`` holds what the call measured besides time: its stage, and the LLM requests,
        tokens and cost of the calls its body made through ``call_llm``/``acall_llm``."""
        error_text = None if error is None else f"{type(error).__name__}: {error}"
        telemetry.set_attributes(current, attempts=attempts, error=error_text, **(meter or {}))
        telemetry.record("hyperfunction", self.name, latency, error is None)
        if inv is None or inv.records is None:
            return
        inv.records.append(
            CallRecord(
                hyperfunction=self.name,
                example_index=inv.example_index,
                candidate_index=inv.candidate_index,
                started_at=started,
                latency_s=latency,
                attempts=attempts,
                error=error_text,
                batched=inv.batched,
                batch_size=inv.batch_size,
                meta=dict(meter or {}),
            )
        )


def hyperfunction(
    fn: Callable[..., Any] | None = None,
    *,
    hp_type: Any,
    name: str | None = None,
    optimize_hparams: bool = True,
    retries: int = 0,
    timeout_s: float | None = None,
    max_calls: int | None = None,
) -> Any:
    """Decorate ``fn(..., hp)`` so a ``HyperSystem`` supplies and trains its θ (see the module doc)."""

    def wrap(f: Callable[..., Any]) -> HyperFunction:
        return HyperFunction(
            f,
            hp_type=hp_type,
            name=name,
            optimize_hparams=optimize_hparams,
            retries=retries,
            timeout_s=timeout_s,
            max_calls=max_calls,
        )

    return wrap(fn) if fn is not None else wrap
