"""The one way hyperfunc talks to LLMs: litellm behind retries, pacing and accounting.

Every engine (LLM tuning strategies, LLM-backed hyperfunctions, agents) calls a
``LLMGateway``. It owns the retry policy (litellm's own retries are switched off so the
count is exact), the per-run concurrency bound and requests-per-minute pace, the token
and cost totals, and an optional budget that stops a run cleanly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hyperfunc_core.llm import text_protocol
from hyperfunc_core.llm.pacing import ConcurrencyBound, RequestPacer
from hyperfunc_core.observability import telemetry
from hyperfunc_core.validation import InvalidInput

RETRYABLE_STATUS = {408, 409, 425, 429}
TOOL_PROTOCOLS = ("auto", "native", "text")


class LLMError(RuntimeError):
    """An LLM call failed for good: after its last retry, or on an answer not worth retrying."""

    def __init__(self, message: str, *, model: str, endpoint: str, status: int | None, attempts: int) -> None:
        super().__init__(message)
        self.model = model
        self.endpoint = endpoint
        self.status = status
        self.attempts = attempts


class MalformedAnswer(RuntimeError):
    """A 200 answer that cannot be used (no choices, no message, neither content nor tool calls): retried."""


class BudgetExceededError(RuntimeError):
    """The run's LLM budget is spent; loops catch this and stop cleanly."""


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for. ``arguments`` is empty when they were not JSON."""

    id: str
    name: str
    arguments: dict
    raw_arguments: str
    arguments_error: str | None = None


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class LLMResponse:
    """One completed call: the message, what it cost, and how many attempts it took."""

    content: str | None
    tool_calls: list[ToolCall]
    model: str
    usage: Usage
    cost_usd: float
    latency_s: float
    attempts: int
    finish_reason: str | None = None
    raw: Any = field(default=None, repr=False)

    def as_message(self) -> dict:
        """The assistant message to append to a conversation before sending tool results."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.raw_arguments}}
                for c in self.tool_calls
            ]
        return message


@dataclass
class UsageTotals:
    """Running totals for a gateway (one gateway per run)."""

    requests: int = 0
    failed_attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "failed_attempts": self.failed_attempts,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
        }


_TALLIES: ContextVar[tuple[UsageTotals, ...]] = ContextVar("hyperfunc_usage_tallies", default=())


@contextmanager
def tally() -> Iterator[UsageTotals]:
    """What the calls made inside this block spend, on any gateway: its own totals, apart from what
    concurrent blocks spend on the same gateway (parallel children, concurrent trials). It follows the
    context into the block's asyncio tasks and ``asyncio.to_thread`` calls; blocks nest."""
    mine = UsageTotals()
    token = _TALLIES.set((*_TALLIES.get(), mine))
    try:
        yield mine
    finally:
        _TALLIES.reset(token)


@lru_cache(maxsize=1)
def _litellm():
    """litellm, imported and configured once (not on every call and retry)."""
    from hyperfunc_core.settings import configure_prefect

    configure_prefect()  # sets LITELLM_LOCAL_MODEL_COST_MAP before litellm's first import
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    from litellm.litellm_core_utils import logging_worker

    if not isinstance(logging_worker.GLOBAL_LOGGING_WORKER, _WorkerPerLoop):
        logging_worker.GLOBAL_LOGGING_WORKER = _WorkerPerLoop(logging_worker.LoggingWorker)
    return litellm


class _WorkerPerLoop:
    """litellm's background logging worker, one per event loop. litellm keeps one global worker bound to
    one loop; loops running at once in threads (parallel evolution children, each running its agents'
    coroutines) rebind it under each other, and every call then logs "LoggingWorker error: cannot
    reuse already awaited coroutine" and loses its success callbacks. litellm reads the global at call
    time, so putting this in its place gives each loop a worker of its own."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self._outside = make()  # calls made with no running loop
        self._workers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _current(self) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._outside
        with self._lock:
            worker = self._workers.get(loop)
            if worker is None:
                for closed in [known for known in self._workers if known.is_closed()]:
                    del self._workers[closed]  # a worker refers to its loop: the weak key alone never frees it
                worker = self._workers[loop] = self._make()
            return worker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)


def _check_answer(raw: Any) -> Any:
    """``raw`` when it holds an answer to use; ``MalformedAnswer`` (retried like a server error) otherwise."""
    choices = getattr(raw, "choices", None)
    if not choices:
        raise MalformedAnswer("the answer has no choices")
    message = getattr(choices[0], "message", None)
    if message is None:
        raise MalformedAnswer("the answer's first choice has no message")
    if not getattr(message, "content", None) and not getattr(message, "tool_calls", None):
        raise MalformedAnswer(
            f"the answer has neither content nor tool calls "
            f"(finish_reason {getattr(choices[0], 'finish_reason', None)!r})"
        )
    return raw


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    try:
        value = headers.get("retry-after") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


# What each server needs, by endpoint: learned by a gateway from a refusal, or declared by whoever
# started the server (``local_model``), so that every gateway made later in this process starts out
# knowing it instead of paying a refused request to learn it again.
_SERVER_WAYS: dict[str, dict] = {}
_SERVER_WAYS_LOCK = threading.Lock()
SERVER_WAYS = ("stream", "tool_protocol", "omit_params", "default_params")


def declare_server(endpoint: str, **ways: Any) -> None:
    """Tell the gateways made from now on that reach ``endpoint`` (an ``api_base``) what its server needs:
    ``stream=True``, ``tool_protocol="text"``, ``omit_params=(...)``, ``default_params={...}``."""
    unknown = sorted(set(ways) - set(SERVER_WAYS))
    if unknown:
        raise InvalidInput(f"ways: unknown {', '.join(unknown)}; expected some of {', '.join(SERVER_WAYS)}")
    with _SERVER_WAYS_LOCK:
        _SERVER_WAYS.setdefault(endpoint, {}).update(ways)


def server_ways(endpoint: str) -> dict:
    """What is known about the server at ``endpoint`` (see ``declare_server``)."""
    with _SERVER_WAYS_LOCK:
        return dict(_SERVER_WAYS.get(endpoint, {}))


class LLMGateway:
    """Calls one litellm model with retries, pacing, a concurrency bound and accounting."""

    def __init__(
        self,
        model: str | None = None,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        max_retries: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 20.0,
        timeout_s: float = 120.0,
        max_concurrency: int = 8,
        requests_per_minute: float | None = None,
        budget_usd: float | None = None,
        default_params: dict | None = None,
        tool_protocol: str = "auto",
        stream: bool | None = None,
        omit_params: tuple[str, ...] = (),
    ) -> None:
        from hyperfunc_core.settings import get_settings

        settings = get_settings()
        self.model = model or settings.model
        if not isinstance(self.model, str) or not self.model:
            raise InvalidInput(f"model: expected a litellm model string such as 'openai/gpt-4o-mini', got {model!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInput(f"max_retries: expected an integer >= 0, got {max_retries!r}")
        if budget_usd is not None and budget_usd < 0:
            raise InvalidInput(f"budget_usd: expected a non-negative number or None, got {budget_usd!r}")
        if tool_protocol not in TOOL_PROTOCOLS:
            raise InvalidInput(f"tool_protocol: expected one of {', '.join(TOOL_PROTOCOLS)}, got {tool_protocol!r}")
        self.api_base = api_base if api_base is not None else settings.llm_api_base
        self.api_key = api_key if api_key is not None else settings.llm_api_key
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.budget_usd = budget_usd
        known = server_ways(self.api_base) if self.api_base else {}
        self.default_params = {**known.get("default_params", {}), **(default_params or {})}
        # How tools reach the model: native function calling, or text (``text_protocol``); "auto" starts
        # native and turns to text for good when the server refuses ``tools=``.
        if tool_protocol == "auto":  # what the server is known to need, else what the settings say
            tool_protocol = known.get("tool_protocol", settings.llm_tool_protocol)
            if tool_protocol not in TOOL_PROTOCOLS:
                raise InvalidInput(
                    f"HYPERFUNC_LLM_TOOL_PROTOCOL: expected one of {', '.join(TOOL_PROTOCOLS)}, got {tool_protocol!r}"
                )
        self.tool_protocol = tool_protocol
        # Ask for server-sent events and assemble them: some servers (``transformers serve``) answer no
        # other way; a server that sends events to a plain request turns this on by itself. None: as the
        # server is known to need (``declare_server``), else plain.
        self.stream = bool(known.get("stream") if stream is None else stream)
        # Request parameters this server mishandles, left out of every request (see local_model).
        configured = [p.strip() for p in (settings.llm_omit_params or "").split(",") if p.strip()]
        self.omit_params = tuple(dict.fromkeys([*omit_params, *known.get("omit_params", ()), *configured]))
        self.pacer = RequestPacer(requests_per_minute)
        self.bound = ConcurrencyBound(max_concurrency)
        self.usage = UsageTotals()
        self._usage_lock = threading.Lock()
        self._warm_loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> first request answered

    # -- public entries ----------------------------------------------------------
    def complete(self, messages: list[dict] | str, *, tools: list[dict] | None = None, **params: Any) -> LLMResponse:
        """One chat completion, retried on 429, 5xx, timeouts and broken connections."""
        kwargs = self._request(messages, tools, params)
        started = time.perf_counter()
        with telemetry.span("llm.completion", model=self.model) as current, self._observed(current, started):
            with self.bound:
                attempt = 0
                while True:  # _after_failure raises once the retries are spent
                    attempt += 1
                    self._check_budget()
                    self.pacer.wait()
                    streamed = self.stream
                    try:
                        raw = _check_answer(self._call(kwargs, streamed))
                    except Exception as exc:  # noqa: BLE001 - classified below
                        if self._adapt(exc, kwargs, streamed):  # asked again at once, not a retry
                            kwargs, attempt = self._request(messages, tools, params), attempt - 1
                            continue
                        time.sleep(self._after_failure(exc, attempt))
                        continue
                    return self._finish(raw, started, attempt, current, tools)

    async def acomplete(
        self, messages: list[dict] | str, *, tools: list[dict] | None = None, **params: Any
    ) -> LLMResponse:
        """The async twin of ``complete``, sharing the same bound, pace and totals."""
        kwargs = self._request(messages, tools, params)
        started = time.perf_counter()
        with telemetry.span("llm.completion", model=self.model) as current, self._observed(current, started):
            async with self.bound:
                attempt = 0
                while True:  # _after_failure raises once the retries are spent
                    attempt += 1
                    self._check_budget()
                    first = await self._await_warm_loop()
                    await self.pacer.await_slot()
                    streamed = self.stream
                    try:
                        raw = _check_answer(await self._acall(kwargs, streamed))
                    except Exception as exc:  # noqa: BLE001 - classified below
                        if self._adapt(exc, kwargs, streamed):  # asked again at once, not a retry
                            kwargs, attempt = self._request(messages, tools, params), attempt - 1
                            continue
                        await asyncio.sleep(self._after_failure(exc, attempt))
                        continue
                    finally:
                        if first is not None:  # the others go from here: the first's arrival is behind us
                            self.pacer.hold_from_now()
                            first.set()
                    return self._finish(raw, started, attempt, current, tools)

    def prompt_fn(self, system: str | None = None, **params: Any):
        """A ``(prompt: str) -> str`` callable for APIs that take a plain LLM function."""

        def ask(prompt: str) -> str:
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": prompt}
            ]
            return self.complete(messages, **params).content or ""

        ask.gateway = self  # type: ignore[attr-defined] - lets callers record what a call's retries cost
        return ask

    def check_configured(self, who: str = "model") -> None:
        """Refuse, before any work, a hosted model whose API key is not set: every call would fail
        after its retries, and a loop would record only failures. A model behind ``api_base`` (a
        local or self-hosted server) or with an explicit key is taken as configured."""
        if self.api_base or self.api_key:
            return
        missing = _litellm().validate_environment(self.model).get("missing_keys") or []
        if missing:
            raise InvalidInput(
                f"{who}: no model is configured: {self.model!r} needs {' and '.join(missing)}, which is not set; "
                f"set it, or name another model with HYPERFUNC_MODEL (--model) and, for an OpenAI-compatible "
                f"server, HYPERFUNC_LLM_API_BASE (--api-base); scripts/setup.sh --local installs a model on this "
                f"machine; `hyperfunc demo --offline` runs a scripted model"
            )

    @property
    def endpoint(self) -> str:
        if self.api_base:
            return self.api_base
        provider = self.model.split("/", 1)[0] if "/" in self.model else "the provider"
        return f"{provider}'s default endpoint"

    # -- internals ---------------------------------------------------------------
    async def _await_warm_loop(self) -> asyncio.Event | None:
        """With a pace set, let one request through first on each event loop and hold the rest
        until it has been answered. litellm sets up its async client on a loop's first call,
        awaiting for up to a second; paced starts that wait behind that set-up would all reach
        the wire together. Returns the event to set when this caller is the first."""
        if not self.pacer.interval:
            return None
        loop = asyncio.get_running_loop()
        warm = self._warm_loops.get(loop)
        if warm is None:
            self._warm_loops[loop] = warm = asyncio.Event()
            return warm
        await warm.wait()
        return None

    def _finish(self, raw: Any, started: float, attempt: int, current: Any, tools: list[dict] | None) -> LLMResponse:
        response = self._record(raw, started, attempt)
        if tools and not response.tool_calls:  # a call written as text: the text protocol, or a server
            response = self._read_text_calls(response, tools)  # that passed the model's own format through
        telemetry.set_attributes(
            current,
            attempts=attempt,
            prompt_tokens=response.usage.prompt_tokens,
            completion_tokens=response.usage.completion_tokens,
            cost_usd=response.cost_usd,
        )
        telemetry.record("llm", self.model, response.latency_s, True)
        return response

    @contextmanager
    def _observed(self, current: Any, started: float) -> Iterator[None]:
        """Count a call that ends in an error (LLMError, budget) in the metrics and on its span."""
        try:
            yield
        except Exception as exc:
            telemetry.set_attributes(current, error=f"{type(exc).__name__}: {str(exc)[:300]}")
            telemetry.record("llm", self.model, time.perf_counter() - started, False)
            raise

    def _request(self, messages: list[dict] | str, tools: list[dict] | None, params: dict) -> dict:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
            raise InvalidInput("messages: expected a prompt string or a list of {'role': ..., 'content': ...} dicts")
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "timeout": self.timeout_s,
            "num_retries": 0,  # the gateway owns retries
            "max_retries": 0,  # and so does not let the OpenAI client retry behind its back
            **self.default_params,
            **params,
        }
        for name in self.omit_params:
            kwargs.pop(name, None)
        if tools and self.tool_protocol == "text":
            kwargs["messages"] = text_protocol.as_text_messages(messages, tools)
        elif tools:
            kwargs["tools"] = tools
            # litellm 1.106+ routes any call with tools through its MCP proxy handler, which
            # imports the optional `mcp` package; plain function calling needs none of it.
            kwargs["_skip_mcp_handler"] = True
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        return kwargs

    def _count_failure(self) -> None:
        with self._usage_lock:
            for totals in (self.usage, *_TALLIES.get()):
                totals.failed_attempts += 1

    def _call(self, kwargs: dict, streamed: bool) -> Any:
        if not streamed:
            return _litellm().completion(**kwargs)
        chunks = list(_litellm().completion(**kwargs, stream=True, stream_options={"include_usage": True}))
        return self._assemble(chunks, kwargs)

    async def _acall(self, kwargs: dict, streamed: bool) -> Any:
        if not streamed:
            return await _litellm().acompletion(**kwargs)
        events = await _litellm().acompletion(**kwargs, stream=True, stream_options={"include_usage": True})
        return self._assemble([chunk async for chunk in events], kwargs)

    def _assemble(self, chunks: list, kwargs: dict) -> Any:
        """One response from a stream's chunks; a server that sent no usage gets litellm's token count."""
        litellm = _litellm()
        raw = litellm.stream_chunk_builder(chunks, messages=kwargs["messages"])
        usage = getattr(raw, "usage", None) if raw is not None else None
        if raw is not None and usage is not None and not getattr(usage, "total_tokens", 0):
            message = raw.choices[0].message
            usage.prompt_tokens = litellm.token_counter(model=self.model, messages=kwargs["messages"])
            usage.completion_tokens = litellm.token_counter(model=self.model, text=message.content or "")
            usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
        return raw

    def _adapt(self, exc: BaseException, sent: dict, streamed: bool) -> bool:
        """Learn what the server cannot do from its refusal of the request ``sent``, for good, said once
        in the log: on "auto", a refusal of ``tools=`` turns tools into text; events sent to a plain
        request turn streaming on. The refused request is counted like any failed one, and the call is
        made again at once (also when a concurrent call already learned it)."""
        change = None
        if "tools" in sent and self.tool_protocol != "native" and text_protocol.refuses_tools(exc):
            if self.tool_protocol == "auto":
                self.tool_protocol, change = "text", "refused native tool calls; tools are written as text"
        elif not streamed and "Received: 'data:" in str(exc):
            if not self.stream:
                self.stream, change = True, "answers only with server-sent events; requests stream from now on"
        else:
            return False
        self._count_failure()
        if change is not None:
            if self.api_base:  # a server of its own; a provider's ways may differ by model
                learned = {"tool_protocol": "text"} if self.tool_protocol == "text" else {}
                declare_server(self.api_base, **learned, **({"stream": True} if self.stream else {}))
            logging.getLogger("hyperfunc").warning(
                "model %r at %s %s (%s)", self.model, self.endpoint, change, str(exc)[:200]
            )
        return True

    def _read_text_calls(self, response: LLMResponse, tools: list[dict]) -> LLMResponse:
        names = {t.get("function", t).get("name") for t in tools}
        content, calls = text_protocol.read_tool_calls(response.content, names)
        if not calls:
            return response
        found = [
            ToolCall(
                id=f"call_text_{i}",
                name=c["name"],
                arguments=c["arguments"] if isinstance(c["arguments"], dict) else {},
                raw_arguments=json.dumps(c["arguments"]),
                arguments_error=None if isinstance(c["arguments"], dict) else "tool arguments are not a JSON object",
            )
            for i, c in enumerate(calls)
        ]
        return dataclasses.replace(response, content=content, tool_calls=found)

    def _check_budget(self) -> None:
        if self.budget_usd is not None and self.usage.cost_usd >= self.budget_usd:
            raise BudgetExceededError(
                f"LLM budget of ${self.budget_usd:.4f} spent (${self.usage.cost_usd:.4f} over {self.usage.requests} requests)"
            )

    def _after_failure(self, exc: BaseException, attempt: int) -> float:
        """Count the failure; raise ``LLMError`` if it is final, else return the back-off delay."""
        litellm = _litellm()
        status = _status_of(exc)
        retryable = isinstance(
            exc,
            (
                litellm.Timeout,
                litellm.APIConnectionError,
                litellm.RateLimitError,
                litellm.InternalServerError,
                litellm.ServiceUnavailableError,
                MalformedAnswer,
            ),
        ) or (status is not None and (status >= 500 or status in RETRYABLE_STATUS))
        self._count_failure()
        if not retryable or attempt > self.max_retries:
            answer = f"HTTP {status}: {exc}" if status is not None else f"{type(exc).__name__}: {exc}"
            why = "after its last retry" if retryable else "with an error that is not retried"
            raise LLMError(
                f"LLM call to model {self.model!r} at {self.endpoint} failed {why} "
                f"({attempt} attempt{'s' if attempt != 1 else ''}); the server answered: {answer}",
                model=self.model,
                endpoint=self.endpoint,
                status=status,
                attempts=attempt,
            ) from exc
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        hinted = _retry_after(exc)
        if hinted is not None:
            delay = min(self.backoff_max_s, max(delay, hinted))
        return delay

    def _record(self, raw: Any, started: float, attempts: int) -> LLMResponse:
        choice = raw.choices[0]
        message = choice.message
        usage_raw = getattr(raw, "usage", None)
        usage = Usage(
            prompt_tokens=int(getattr(usage_raw, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage_raw, "completion_tokens", 0) or 0),
        )
        try:
            cost = float(_litellm().completion_cost(completion_response=raw) or 0.0)
        except Exception:  # noqa: BLE001 - models without a price list entry cost 0 here
            cost = 0.0
        calls = [self._tool_call(c) for c in (getattr(message, "tool_calls", None) or [])]
        with self._usage_lock:
            for totals in (self.usage, *_TALLIES.get()):
                totals.requests += 1
                totals.prompt_tokens += usage.prompt_tokens
                totals.completion_tokens += usage.completion_tokens
                totals.cost_usd += cost
        return LLMResponse(
            content=getattr(message, "content", None),
            tool_calls=calls,
            model=self.model,
            usage=usage,
            cost_usd=cost,
            latency_s=time.perf_counter() - started,
            attempts=attempts,
            finish_reason=getattr(choice, "finish_reason", None),
            raw=raw,
        )

    @staticmethod
    def _tool_call(call: Any) -> ToolCall:
        raw_args = call.function.arguments or ""
        try:
            args = json.loads(raw_args) if raw_args.strip() else {}
            error = None if isinstance(args, dict) else "tool arguments are JSON but not an object"
        except json.JSONDecodeError as exc:
            args, error = {}, f"tool arguments are not valid JSON: {exc}"
        return ToolCall(
            id=call.id,
            name=call.function.name,
            arguments=args if isinstance(args, dict) else {},
            raw_arguments=raw_args,
            arguments_error=error,
        )
