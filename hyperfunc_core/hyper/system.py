"""``HyperSystem``: a composition of hyperfunctions whose θ are evaluated and trained together.

Subclass it and write ``run(**inputs)``, calling hyperfunctions as plain functions.

Evaluation semantics
--------------------
- ``metric_fn(preds, expected) -> float``, higher is better. ``preds`` (and ``expected``)
  is a tensor stacked along dim 0 when every item is a tensor of one shape, else a list;
  the same in every evaluation path, so a vectorised metric and a loop both work.
- ``seed``: when given, torch's, NumPy's and Python's global generators are seeded with it
  at the start of the evaluation and restored afterwards, so a stochastic ``run`` (dropout,
  sampling) gives the same predictions each time. ES noise is not affected: it comes from
  ``ESConfig.seed``.
- ``environment_state``: when given, it is passed to every ``run`` call as the keyword
  argument ``environment_state`` (``run`` must accept it), the same object for every
  example and candidate; it is never copied, batched or perturbed. Use it for read-only
  context (a tool registry, a simulator's configuration, a shared cache).

Batched population evaluation
-----------------------------
``evaluate_population`` evaluates every candidate on every example through the composed
``run`` in ``torch.vmap`` forwards (vmap over candidates of vmap over examples), chunked so
that at most ``max_batch_size`` (candidate, example) pairs go through at once; how many
candidates a chunk holds and on how many threads is measured per workload and kept for the
run (``hyper/execution.py``), and each chunk is scored as soon as it is computed. It needs
tensor inputs of one shape per key, tensor outputs and vmappable bodies (no ``.item()``, no
branching on values, no randomness). When that fails, the system says once which
hyperfunction (or input) and why, and evaluates candidates one by one, concurrently
(threads for a sync ``run``, ``asyncio.gather`` for an async one). A candidate whose run
raises scores ``-inf`` with its error recorded; the others are unaffected.

An async ``run`` (LLM-backed hyperfunctions) skips the vmap attempt: every candidate ×
example runs at once on one event loop, and a ``StageGate`` groups their hyperfunction
calls per stage (see ``hyper/stages.py``), all through the system's one ``llm`` gateway.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import inspect
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hyperfunc_core.concurrency import run_coroutine
from hyperfunc_core.es import ESConfig, Layout
from hyperfunc_core.es.strategy import check_execution
from hyperfunc_core.hyper.execution import ExecutionPlanner, Plan
from hyperfunc_core.hyper.hp_types import default_init
from hyperfunc_core.hyper.hyperfunction import HyperFunction
from hyperfunc_core.hyper.metrics import MeanOverExamples
from hyperfunc_core.hyper.placement import examples_on
from hyperfunc_core.hyper.runtime import Invocation, invocation
from hyperfunc_core.hyper.stages import StageGate
from hyperfunc_core.hyper.tracing import CallRecord, CallSummary, summarize_calls
from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:
    from hyperfunc_core.hyper.agent_runtime import AgentRuntime

log = logging.getLogger("hyperfunc.hyper")
MetricFn = Callable[[Any, Any], float]
STAGES = (1 / 8, 1 / 4, 1 / 2, 3 / 4, 7 / 8, 15 / 16)  # shares of the examples after which early exit checks


@dataclass
class Example:
    """One training or evaluation case: keyword inputs for ``run`` and the expected output."""

    inputs: dict[str, Any]
    expected: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.inputs, dict):
            raise InvalidInput(
                f"Example.inputs: expected a dict of keyword arguments for run(), got {type(self.inputs).__name__}"
            )


@dataclass
class EvaluationReport:
    """What one evaluation did: its score, predictions and (if traced) every call."""

    score: float
    predictions: Any
    calls: list[CallRecord] = field(default_factory=list)
    seed: int | None = None
    started_at: float = field(default_factory=time.time)
    candidate_scores: list[float] | None = None  # set for a population evaluation (``score`` is the best)

    def summary(self) -> dict[str, CallSummary]:
        return summarize_calls(self.calls)


class EvaluationError(RuntimeError):
    """``run`` or ``metric_fn`` failed during ``evaluate``; ``example_index`` says where."""

    def __init__(self, message: str, example_index: int | None = None) -> None:
        super().__init__(message)
        self.example_index = example_index


class HyperSystem:
    """Compose hyperfunctions in ``run``; evaluate, batch-evaluate populations and train θ with ES."""

    history_size = 100

    def __init__(
        self,
        system_optimizer: ESConfig | None = None,
        *,
        device: str | torch.device | None = None,
        init_seed: int = 0,
        llm: Any = None,
    ) -> None:
        if system_optimizer is not None and not isinstance(system_optimizer, ESConfig):
            raise InvalidInput(
                f"system_optimizer: expected an ESHybridSystemOptimizer/ESConfig, got {system_optimizer!r}"
            )
        from hyperfunc_core.llm import LLMGateway

        if llm is not None and not isinstance(llm, LLMGateway):
            raise InvalidInput(
                f"llm: expected an LLMGateway (its model, concurrency and rate limit) or None, got {llm!r}"
            )
        self._llm = llm
        self.system_optimizer = system_optimizer or ESConfig()
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._hyperfunctions: dict[str, HyperFunction] = {}
        self._theta: dict[str, torch.Tensor] = {}
        self._init_generator = torch.Generator().manual_seed(init_seed)
        self._reports: deque[EvaluationReport] = deque(maxlen=self.history_size)
        self._batched_refusal: str | None = None  # why the vmapped path failed, once known
        self._metric_vmappable: dict[int, bool] = {}
        self.planner = ExecutionPlanner()  # how populations run, per workload, measured (hyper/execution.py)
        self.last_plan: Plan | None = None  # the plan the last batched population evaluation ran under
        self.last_early_exit: dict | None = None  # (candidate, example) pairs the last top-k evaluation ran
        self._discovered = False  # has run() been run once, registering every hyperfunction it calls?
        self._pending_theta: dict[str, torch.Tensor] = {}  # loaded θ for hyperfunctions not registered yet

    @property
    def llm(self) -> Any:
        """The gateway every LLM call of this system's hyperfunctions goes through (one bound and pace)."""
        if self._llm is None:
            from hyperfunc_core.hyper.llm_calls import default_gateway

            self._llm = default_gateway()
        return self._llm

    # -- what users write ------------------------------------------------------------
    def run(self, **inputs: Any) -> Any:
        raise NotImplementedError("subclass HyperSystem and write run(**inputs)")

    # -- θ -----------------------------------------------------------------------------
    def register_hyperfunction(self, hf: HyperFunction, hp_init: Any = None) -> None:
        """Register ``hf`` with θ = ``hp_init`` (a tensor or an hp object), else a Xavier-like init."""
        if not isinstance(hf, HyperFunction):
            raise InvalidInput(f"hf: expected a function decorated with @hyperfunction, got {hf!r}")
        known = self._hyperfunctions.get(hf.name)
        if known is not None and known is not hf:
            raise InvalidInput(f"hyperfunction name {hf.name!r} is already registered for another function")
        if hp_init is None:
            theta = default_init(hf.hp_type, self._init_generator)
        elif isinstance(hp_init, torch.Tensor):
            theta = hp_init
        elif callable(getattr(hp_init, "to_tensor", None)):
            theta = hp_init.to_tensor()
        else:
            theta = torch.as_tensor(hp_init, dtype=torch.float32)
        if tuple(theta.shape) != hf.shape:
            if theta.numel() != math.prod(hf.shape):
                raise InvalidInput(f"hp_init for {hf.name}: expected shape {hf.shape}, got {tuple(theta.shape)}")
            theta = theta.reshape(hf.shape)
        self._hyperfunctions[hf.name] = hf
        self._theta[hf.name] = theta.detach().to(self.device, torch.float32).clone()

    @property
    def hyperfunctions(self) -> dict[str, HyperFunction]:
        return dict(self._hyperfunctions)

    def get_hp_state(self) -> dict[str, torch.Tensor]:
        return {name: t.clone() for name, t in self._theta.items()}

    def set_hp_state(self, state: dict[str, torch.Tensor]) -> None:
        for name, value in state.items():
            if name not in self._theta:
                raise InvalidInput(f"set_hp_state: unknown hyperfunction {name!r} (registered: {sorted(self._theta)})")
            value = torch.as_tensor(value)
            if tuple(value.shape) != tuple(self._theta[name].shape):
                raise InvalidInput(
                    f"set_hp_state[{name!r}]: expected shape {tuple(self._theta[name].shape)}, got {tuple(value.shape)}"
                )
            self._theta[name] = value.detach().to(self.device, torch.float32).clone()

    def to(self, device: str | torch.device) -> "HyperSystem":
        self.device = torch.device(device)
        self._theta = {n: t.to(self.device) for n, t in self._theta.items()}
        return self

    def trainable_layout(self) -> Layout:
        names = [n for n, hf in self._hyperfunctions.items() if hf.optimize_hparams]
        return Layout.build(
            {n: self._hyperfunctions[n].shape for n in names},
            {n: _noise_rank(self._hyperfunctions[n].hp_type) for n in names},
        )

    def discover(self, examples: Sequence[Example], environment_state: Any = None) -> None:
        """Run one example once, so every hyperfunction ``run`` calls is registered before
        θ is batched or laid out for ES (a vmapped forward cannot register anything)."""
        if self._discovered:
            return
        try:
            with _seeded(0):
                self._run_examples(self._theta, examples_on(examples[:1], self.device), environment_state, None, None)
        except EvaluationError as exc:  # the current θ may fail; each candidate's own run will say so
            log.debug("discovery run failed: %s", exc)
        self._discovered = True

    def _auto_register(self, hf: HyperFunction) -> torch.Tensor:
        if hf.name not in self._theta:
            self.register_hyperfunction(hf, self._pending_theta.pop(hf.name, None))
        return self._theta[hf.name]

    def load_trained(self, run_name: str | None = None, storage: str | None = None, which: str = "final") -> str:
        """Take θ from ES run ``run_name`` (default: the run that finished last) in ``storage``:
        its ``final`` θ, or its ``best`` (the epoch that scored best on validation, else on train).

        Hyperfunctions ``run`` has not called yet get their θ when first called. Returns the run's name."""
        from hyperfunc_core.hyper.checkpoints import CheckpointStore
        from hyperfunc_core.settings import get_settings

        name, theta = CheckpointStore(storage, get_settings().outputs_dir / "es").load_final(run_name, which)
        known = {n: t for n, t in theta.items() if n in self._theta}
        self.set_hp_state(known)
        self._pending_theta.update({n: t for n, t in theta.items() if n not in self._theta})
        return name

    def start(self, source: Any = None, **options: Any) -> "AgentRuntime":
        """Serve ``run`` in a long-running loop; see ``hyperfunc_core.hyper.agent_runtime.AgentRuntime``."""
        from hyperfunc_core.hyper.agent_runtime import AgentRuntime

        return AgentRuntime(self, source, **options).start()

    # -- single evaluation -----------------------------------------------------------------
    def evaluate(
        self,
        examples: Sequence[Example],
        metric_fn: MetricFn,
        environment_state: Any = None,
        seed: int | None = None,
        collect_trace: bool = False,
    ) -> float:
        """Run every example with the current θ (one at a time, in order) and score the predictions."""
        examples = examples_on(_check_examples(examples), self.device)
        _check_metric(metric_fn)
        self._check_environment(environment_state)
        records: list[CallRecord] | None = [] if collect_trace else None
        with _seeded(seed):
            preds = self._run_examples(self._theta, examples, environment_state, records, candidate_index=None)
        self._discovered = True  # every hyperfunction run() calls is registered now
        score = _score(metric_fn, preds, [e.expected for e in examples])
        self._reports.append(EvaluationReport(score, preds, records or [], seed))
        return score

    def last_evaluation(self) -> EvaluationReport | None:
        return self._reports[-1] if self._reports else None

    def call_history(self, last: int | None = 1) -> list[CallRecord]:
        """The call records of the last ``last`` evaluations (``None``: all kept), oldest first."""
        reports = list(self._reports) if last is None else list(self._reports)[-last:]
        return [r for report in reports for r in report.calls]

    def call_summary(self, last: int | None = 1) -> dict[str, CallSummary]:
        return summarize_calls(self.call_history(last))

    # -- population evaluation ---------------------------------------------------------------
    def evaluate_population(
        self,
        candidates: Sequence[dict[str, torch.Tensor]] | torch.Tensor,
        examples: Sequence[Example],
        metric_fn: MetricFn,
        max_batch_size: int | None = None,
        environment_state: Any = None,
        seed: int | None = None,
        errors: list[str | None] | None = None,
        collect_trace: bool = False,
        execution: str | None = None,
        top_k: int | None = None,
    ) -> list[float]:
        """Scores of each candidate θ on ``examples``, equal to ``evaluate`` of each alone.

        ``candidates``: a list of ``{name: tensor}`` (missing names keep the system's θ) or a
        (P, layout.size) tensor in ``trainable_layout()`` order. ``errors``, if given, is
        filled with each candidate's error (or None). ``collect_trace`` keeps every call's
        record (with its candidate index) in the history ``call_history()`` reads. Examples, expected
        values and candidates are moved to the system's device once, here. ``execution``: ``auto``
        (a measured plan), ``batched`` or ``loop``; default ``system_optimizer.execution``.
        ``top_k``: only the best k candidates' scores matter (CMA-ES's μ, CEM's elite); with a
        ``MeanOverExamples`` metric, candidates that cannot reach the top k stop early and score
        the most they could still have reached, which ranks them below the top k.
        """
        examples = examples_on(_check_examples(examples), self.device)
        _check_metric(metric_fn)
        self._check_environment(environment_state)
        max_batch_size = max_batch_size or self.system_optimizer.max_batch_size
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or max_batch_size < 1:
            raise InvalidInput(f"max_batch_size: expected an integer >= 1, got {max_batch_size!r}")
        execution = check_execution(execution or self.system_optimizer.execution)
        self.discover(examples, environment_state)
        stacked = self._stack_candidates(candidates)
        population = next(iter(stacked.values())).shape[0] if stacked else len(candidates)
        records: list[CallRecord] | None = [] if collect_trace else None
        if self._batched_refusal is None and inspect.iscoroutinefunction(self.run):
            self._batched_refusal = "run() is async: candidates run concurrently, their calls grouped per stage"
        scores: list[float] | None = None
        if self._batched_refusal is None:
            try:
                with _seeded(seed):
                    scores = self._batched_scores(
                        stacked, examples, metric_fn, environment_state, max_batch_size, execution, records, top_k
                    )
                if errors is not None:
                    errors[:] = [None] * population
            except _NotBatchable as exc:
                self._batched_refusal = str(exc)
                log.warning("evaluate_population: evaluating candidates one by one: %s", exc)
                if records is not None:
                    records.clear()
        if scores is None:
            per_candidate = [{n: t[i] for n, t in stacked.items()} for i in range(population)]
            scores = self._population_one_by_one(
                per_candidate, examples, metric_fn, environment_state, seed, errors, records
            )
        if records is not None:
            finite = [x for x in scores if math.isfinite(x)]
            self._reports.append(
                EvaluationReport(max(finite, default=-math.inf), None, records, seed, candidate_scores=list(scores))
            )
        return scores

    @property
    def batched_refusal(self) -> str | None:
        """Why batched evaluation is off for this system (None while it works)."""
        return self._batched_refusal

    def _stack_candidates(
        self, candidates: Sequence[dict[str, torch.Tensor]] | torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if isinstance(candidates, torch.Tensor):
            layout = self.trainable_layout()
            if candidates.dim() != 2 or candidates.shape[1] != layout.size:
                raise InvalidInput(f"candidates: expected a (P, {layout.size}) tensor, got {tuple(candidates.shape)}")
            return {n: t.to(self.device, torch.float32) for n, t in layout.unflatten(candidates).items()}
        if not candidates:
            raise InvalidInput("candidates: expected at least one candidate")
        names = set().union(*(c.keys() for c in candidates))
        unknown = names - set(self._theta)
        if unknown:
            raise InvalidInput(
                f"candidates: unknown hyperfunctions {sorted(unknown)} (registered: {sorted(self._theta)})"
            )
        out = {}
        for name in names:
            rows = [torch.as_tensor(c.get(name, self._theta[name])).to(self.device, torch.float32) for c in candidates]
            shapes = {tuple(r.shape) for r in rows}
            if shapes != {tuple(self._theta[name].shape)}:
                raise InvalidInput(
                    f"candidates[{name!r}]: expected shape {tuple(self._theta[name].shape)}, got {sorted(shapes)}"
                )
            out[name] = torch.stack(rows)
        return out

    def _batched_scores(
        self,
        stacked: dict[str, torch.Tensor],
        examples: list[Example],
        metric_fn: MetricFn,
        environment_state: Any,
        max_batch_size: int,
        execution: str,
        records: list[CallRecord] | None = None,
        top_k: int | None = None,
    ) -> list[float]:
        """Each candidate's score through vmapped forwards, in chunks the execution plan picks
        (``hyper/execution.py``), each chunk scored as soon as it is computed: memory holds one
        chunk's predictions (in a buffer allocated once when examples are chunked too), never the
        whole population's."""
        inputs = _stack_inputs(examples, self.device)
        target = _as_batch([e.expected for e in examples])
        fixed = {n: t for n, t in self._theta.items() if n not in stacked}
        population, n_examples = next(iter(stacked.values())).shape[0], len(examples)
        extra = {"environment_state": environment_state} if environment_state is not None else {}
        last_inv: list[Invocation] = []

        def one(theta_one: dict[str, torch.Tensor], inputs_one: dict[str, torch.Tensor]) -> torch.Tensor:
            inv = Invocation(
                theta={**fixed, **theta_one},
                resolve_missing=_refuse_in_batch,
                batched=True,
                batch_size=population * n_examples,
                records=records,
                owner=self,
            )
            last_inv.append(inv)
            with invocation(inv):
                out = self.run(**inputs_one, **extra)
            if inspect.isawaitable(out):
                out.close()
                raise _NotBatchable("run() is async; async bodies cannot run under torch.vmap")
            if not isinstance(out, torch.Tensor):
                raise _NotBatchable(f"run() returned {type(out).__name__}, not a tensor")
            return out

        over_examples = torch.vmap(one, in_dims=(None, 0), randomness="error")
        over_candidates = torch.vmap(over_examples, in_dims=(0, None), randomness="error")
        example_chunk = min(n_examples, max_batch_size)
        scores: list[float] = [-math.inf] * population
        buffer: dict[int, torch.Tensor] = {}  # chunk size -> its predictions, when examples come in parts

        def forward(theta_chunk: dict[str, torch.Tensor], part: dict[str, torch.Tensor]) -> torch.Tensor:
            """Predictions (candidates, examples, ...); a refusal of vmap says which hyperfunction.
            One candidate too goes through both vmaps: the same kernels, so the same bits, at any chunk size."""
            try:
                return over_candidates(theta_chunk, part)
            except _NotBatchable:
                raise
            except Exception as exc:  # noqa: BLE001 - vmap refusals come in many exception types
                where = next((inv.failed_in for inv in reversed(last_inv) if inv.failed_in), None)
                raise _NotBatchable(
                    f"{'hyperfunction ' + repr(where) if where else 'run()'} cannot be vmapped "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
                ) from exc

        def run_chunk(lo: int, hi: int) -> None:
            theta_chunk = {n: t[lo:hi] for n, t in stacked.items()}
            if example_chunk == n_examples:
                preds = forward(theta_chunk, inputs)
            else:
                preds = None
                for e0 in range(0, n_examples, example_chunk):
                    part = forward(theta_chunk, {k: v[e0 : e0 + example_chunk] for k, v in inputs.items()})
                    if preds is None:
                        preds = buffer.get(hi - lo)
                        if preds is None or preds.shape[2:] != part.shape[2:]:
                            preds = buffer[hi - lo] = part.new_empty((hi - lo, n_examples, *part.shape[2:]))
                    preds[:, e0 : e0 + part.shape[1]] = part
            scores[lo:hi] = self._score_chunk(metric_fn, preds, target)

        if isinstance(metric_fn, MeanOverExamples) and top_k is not None and 0 < top_k < population:
            return self._scores_with_early_exit(forward, stacked, inputs, target, metric_fn, top_k, max_batch_size)
        self.last_early_exit = None
        key = (
            n_examples,
            tuple((k, tuple(v.shape[1:]), v.dtype) for k, v in inputs.items()),
            tuple((n, tuple(t.shape[1:])) for n, t in stacked.items()),
            str(self.device),
        )
        self.last_plan = self.planner.run(key, population, max(1, max_batch_size // n_examples), execution, run_chunk)
        return scores

    def _scores_with_early_exit(
        self,
        forward: Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], torch.Tensor],
        stacked: dict[str, torch.Tensor],
        inputs: dict[str, torch.Tensor],
        target: torch.Tensor,
        metric: MeanOverExamples,
        top_k: int,
        max_batch_size: int,
    ) -> list[float]:
        """The examples in stages (``STAGES``): after each, a candidate whose best possible mean is
        below the k-th best worst possible mean stops there."""
        population, n_examples = next(iter(stacked.values())).shape[0], target.shape[0]
        sums = torch.zeros(population, dtype=torch.float64, device=self.device)
        alive = torch.ones(population, dtype=torch.bool, device=self.device)
        values_of = torch.vmap(metric.values, in_dims=(0, None))
        # a bounded mean can only rule a candidate out once the examples left weigh less than the gap
        # to the elite: stages thin out towards the end, where the rulings happen
        bounds = sorted({max(1, int(n_examples * f)) for f in STAGES} | {n_examples})
        evaluated, start = 0, 0
        for stop in bounds:
            part = {k: v[start:stop] for k, v in inputs.items()}
            per_chunk = max(1, max_batch_size // (stop - start))
            left = alive.nonzero().flatten()
            for c0 in range(0, left.numel(), per_chunk):
                chosen = left[c0 : c0 + per_chunk]
                preds = forward({n: t[chosen] for n, t in stacked.items()}, part)
                sums[chosen] += values_of(preds, target[start:stop]).double().sum(1)
            evaluated += left.numel() * (stop - start)
            start, remaining = stop, n_examples - stop
            upper = (sums + remaining * metric.high) / n_examples
            if remaining:
                lower = (sums + remaining * metric.low) / n_examples
                kth = torch.topk(torch.where(alive, lower, -math.inf), top_k).values[-1]
                alive &= ~(upper < kth)  # NaN sums stay alive (and score -inf at the end)
        scores = torch.where(alive, sums / n_examples, upper)
        self.last_early_exit = {"pairs": evaluated, "of": population * n_examples, "stopped": int((~alive).sum())}
        return [_as_score(s) for s in scores.tolist()]

    def _score_chunk(self, metric_fn: MetricFn, preds: torch.Tensor, target: Any) -> list[float]:
        """Scores of a chunk's candidates: one vmapped metric call when the metric allows it."""
        key = id(metric_fn)
        if self._metric_vmappable.get(key, True) and isinstance(target, torch.Tensor):
            try:
                scores = torch.vmap(lambda p: torch.as_tensor(metric_fn(p, target)), randomness="error")(preds)
                self._metric_vmappable[key] = True
                return [_as_score(s) for s in scores.reshape(-1).tolist()]
            except Exception:  # noqa: BLE001 - a metric with .item() or Python floats: score one by one
                self._metric_vmappable[key] = False
        return [_as_score(metric_fn(preds[i], target)) for i in range(preds.shape[0])]

    def _population_one_by_one(
        self,
        per_candidate: list[dict[str, torch.Tensor]],
        examples: list[Example],
        metric_fn: MetricFn,
        environment_state: Any,
        seed: int | None,
        errors: list[str | None] | None,
        records: list[CallRecord] | None = None,
    ) -> list[float]:
        expected = [e.expected for e in examples]
        thetas = [{**self._theta, **c} for c in per_candidate]
        found: list[str | None] = [None] * len(thetas)

        def score_of(i: int, preds: Any) -> float:
            try:
                return _score(metric_fn, preds, expected)
            except Exception as exc:  # noqa: BLE001 - recorded; the population goes on
                found[i] = f"metric_fn: {type(exc).__name__}: {exc}"
                return -math.inf

        if inspect.iscoroutinefunction(self.run):

            async def all_candidates() -> list:
                gate = StageGate(len(thetas) * len(examples))  # every candidate's stage-k calls go out as one wave
                return await asyncio.gather(
                    *(
                        self._run_examples_async(t, examples, environment_state, records, i, gate)
                        for i, t in enumerate(thetas)
                    ),
                    return_exceptions=True,
                )

            with _seeded(seed):
                outcomes = run_coroutine(all_candidates())
        else:

            def one(i: int) -> Any:
                try:
                    return self._run_examples(thetas[i], examples, environment_state, records, i)
                except Exception as exc:  # noqa: BLE001
                    return exc

            with _seeded(seed), cf.ThreadPoolExecutor(min(8, len(thetas))) as pool:
                outcomes = list(pool.map(one, range(len(thetas))))
        scores = []
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, BaseException):
                found[i] = f"{type(outcome).__name__}: {outcome}"
                scores.append(-math.inf)
            else:
                scores.append(score_of(i, outcome))
        if errors is not None:
            errors[:] = found
        return scores

    # -- running examples ----------------------------------------------------------------------
    def _run_examples(
        self,
        theta: dict[str, torch.Tensor],
        examples: list[Example],
        environment_state: Any,
        records: list[CallRecord] | None,
        candidate_index: int | None,
    ) -> Any:
        if inspect.iscoroutinefunction(self.run):
            return run_coroutine(self._run_examples_async(theta, examples, environment_state, records, candidate_index))
        preds = []
        for i, example in enumerate(examples):
            try:
                preds.append(self._run_one(theta, example.inputs, environment_state, records, i, candidate_index))
            except Exception as exc:
                raise EvaluationError(f"example {i}: {type(exc).__name__}: {exc}", i) from exc
        return _as_batch(preds)

    def _run_one(
        self,
        theta: dict[str, torch.Tensor],
        inputs: dict[str, Any],
        environment_state: Any,
        records: list[CallRecord] | None,
        example_index: int | None = None,
        candidate_index: int | None = None,
    ) -> Any:
        """One sync ``run`` with ``theta`` (an async ``run`` goes through its own event loop)."""
        extra = {"environment_state": environment_state} if environment_state is not None else {}
        if inspect.iscoroutinefunction(self.run):

            async def once() -> Any:
                inv = Invocation(
                    theta=theta,
                    resolve_missing=self._auto_register,
                    records=records,
                    example_index=example_index,
                    candidate_index=candidate_index,
                    owner=self,
                )
                with invocation(inv):
                    return await self.run(**inputs, **extra)

            return run_coroutine(once())
        inv = Invocation(
            theta=theta,
            resolve_missing=self._auto_register,
            records=records,
            example_index=example_index,
            candidate_index=candidate_index,
            owner=self,
        )
        with invocation(inv):
            return self.run(**inputs, **extra)

    async def _run_examples_async(
        self,
        theta: dict[str, torch.Tensor],
        examples: list[Example],
        environment_state: Any,
        records: list[CallRecord] | None,
        candidate_index: int | None,
        gate: StageGate | None = None,
    ) -> Any:
        extra = {"environment_state": environment_state} if environment_state is not None else {}
        gate = gate or StageGate(len(examples))

        async def one(i: int, example: Example) -> Any:
            inv = Invocation(
                theta=theta,
                resolve_missing=self._auto_register,
                records=records,
                example_index=i,
                candidate_index=candidate_index,
                stages=gate,
                owner=self,
            )
            with invocation(inv):
                try:
                    return await self.run(**example.inputs, **extra)
                except Exception as exc:
                    raise EvaluationError(f"example {i}: {type(exc).__name__}: {exc}", i) from exc
                finally:
                    gate.run_finished()

        return _as_batch(list(await asyncio.gather(*(one(i, e) for i, e in enumerate(examples)))))

    def _check_environment(self, environment_state: Any) -> None:
        if environment_state is None:
            return
        params = inspect.signature(self.run).parameters
        if "environment_state" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            raise InvalidInput(
                f"environment_state: {type(self).__name__}.run() must accept an 'environment_state' "
                f"keyword argument to receive it"
            )

    # -- training ------------------------------------------------------------------------------
    def optimize(self, train: Sequence[Example], metric_fn: MetricFn, **options: Any) -> dict:
        """Train θ with ES on ``train``; see ``hyperfunc_core.hyper.training.optimize`` for the options."""
        from hyperfunc_core.hyper.training import optimize

        return optimize(self, train, metric_fn, **options)


class _NotBatchable(RuntimeError):
    pass


def _refuse_in_batch(hf: HyperFunction) -> torch.Tensor:
    raise _NotBatchable(f"hyperfunction {hf.name!r} is not registered; register it (or evaluate once) before batching")


def _noise_rank(hp_type: Any) -> int | None:
    fn = getattr(hp_type, "noise_rank", None)
    return fn() if callable(fn) else None


def _check_examples(examples: Sequence[Example]) -> list[Example]:
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence) or not examples:
        raise InvalidInput(f"examples: expected a non-empty list of Example, got {type(examples).__name__}")
    bad = [i for i, e in enumerate(examples) if not isinstance(e, Example)]
    if bad:
        raise InvalidInput(
            f"examples: item {bad[0]} is {type(examples[bad[0]]).__name__}, expected Example(inputs, expected)"
        )
    return list(examples)


def _check_metric(metric_fn: MetricFn) -> None:
    if not callable(metric_fn):
        raise InvalidInput(f"metric_fn: expected a callable metric_fn(preds, expected) -> float, got {metric_fn!r}")


def _as_batch(items: list) -> Any:
    """A tensor stacked along dim 0 when every item is a tensor of one shape, else the list."""
    if items and all(isinstance(x, torch.Tensor) for x in items) and len({tuple(x.shape) for x in items}) == 1:
        return torch.stack([x.detach() for x in items])
    if items and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in items):
        return torch.tensor(items, dtype=torch.float32)
    return items


def _stack_inputs(examples: list[Example], device: torch.device) -> dict[str, torch.Tensor]:
    keys = set(examples[0].inputs)
    out = {}
    for key in sorted(keys):
        values = []
        for i, e in enumerate(examples):
            if set(e.inputs) != keys:
                raise _NotBatchable(f"examples differ in their input names (example {i})")
            v = e.inputs[key]
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                v = torch.tensor(float(v))
            if not isinstance(v, torch.Tensor):
                raise _NotBatchable(f"input {key!r} is {type(v).__name__}, not a tensor")
            values.append(v)
        if len({tuple(v.shape) for v in values}) != 1:
            raise _NotBatchable(f"input {key!r} has different shapes across examples")
        out[key] = torch.stack(values).to(device)
    return out


def _score(metric_fn: MetricFn, preds: Any, expected: list) -> float:
    return _as_score(metric_fn(preds, _as_batch(expected)))


def _as_score(value: Any) -> float:
    """A metric's value as a float; NaN counts as -inf (the worst), on every path."""
    value = float(value.item() if isinstance(value, torch.Tensor) else value)
    return value if not math.isnan(value) else -math.inf


@contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    if seed is None:
        yield
        return
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % (2**32))
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
