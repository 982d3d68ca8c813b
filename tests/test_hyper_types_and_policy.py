"""hp types, @hyperfunction's runtime policy, auto-registration, seed, environment_state, tracing."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest
import torch

from hyperfunc_core import (
    EvaluationError,
    Example,
    HyperFunctionError,
    HyperSystem,
    LMParam,
    LoRAWeight,
    TensorParam,
    hyperfunction,
)

Vec3 = TensorParam.create(3)


def test_hp_types_shape_dim_and_round_trip():
    lora = LoRAWeight.create(out_dim=4, in_dim=6, noise_rank=2)
    assert lora.shape() == (4, 6) and lora.dim() == 24 and lora.noise_rank() == 2
    t = torch.arange(24.0)
    hp = lora.from_tensor(t)
    assert hp.weight.shape == (4, 6) and torch.equal(hp.to_tensor().reshape(-1), t)
    assert TensorParam.create(2, 3, 4).dim() == 24
    p = LMParam(temperature=0.5)
    assert p.to_tensor().shape == (5,) and LMParam.from_tensor(p.to_tensor()).temperature == pytest.approx(0.5)
    clamped = LMParam.from_tensor(torch.tensor([9.0, -1.0, 0.0, 0.0, 1.0]))
    assert clamped.temperature == 2.0 and clamped.top_p == 0.01
    assert LMParam(temperature=0.3).completion_kwargs(max_tokens=100)["max_tokens"] == 100
    for bad in [
        lambda: LoRAWeight.create(0, 2),
        lambda: TensorParam.create(2, "x"),
        lambda: LoRAWeight.create(2, 2, noise_rank=0),
    ]:
        with pytest.raises(ValueError, match="shape|noise_rank"):
            bad()


def test_bad_decorator_arguments_fail_fast():
    with pytest.raises(ValueError, match="retries"):
        hyperfunction(hp_type=Vec3, retries=-1)(lambda x, hp: x)
    with pytest.raises(ValueError, match="timeout_s"):
        hyperfunction(hp_type=Vec3, timeout_s=0)(lambda x, hp: x)
    with pytest.raises(ValueError, match="max_calls"):
        hyperfunction(hp_type=Vec3, max_calls=0)(lambda x, hp: x)
    with pytest.raises(ValueError, match="'hp'"):
        hyperfunction(hp_type=Vec3)(lambda x: x)
    with pytest.raises(ValueError, match="hp_type"):
        hyperfunction(hp_type=int)(lambda x, hp: x)


def test_auto_registration_uses_a_xavier_like_init_and_explicit_init_wins():
    @hyperfunction(hp_type=LoRAWeight.create(8, 4))
    def proj(x, hp):
        return hp.weight @ x

    class S(HyperSystem):
        def run(self, x):
            return proj(x)

    s = S()
    s.evaluate([Example({"x": torch.ones(4)}, torch.zeros(8))], lambda p, e: 0.0)
    theta = s.get_hp_state()["proj"]
    bound = math.sqrt(6 / (8 + 4))
    assert theta.shape == (8, 4) and theta.abs().max() <= bound and theta.std() > 0.1 * bound
    s2 = S()
    s2.register_hyperfunction(proj, hp_init=torch.ones(8, 4))
    assert torch.equal(s2.get_hp_state()["proj"], torch.ones(8, 4))
    with pytest.raises(ValueError, match="expected shape"):
        s2.set_hp_state({"proj": torch.ones(2, 2)})
    with pytest.raises(HyperFunctionError, match="outside HyperSystem.run"):
        proj(torch.ones(4))
    assert proj(torch.ones(4), hp=LoRAWeight.create(8, 4).from_tensor(torch.ones(32))).sum() == 32


def flaky(fail_times: int, retries: int):
    calls = {"n": 0}

    @hyperfunction(hp_type=Vec3, retries=retries, name=f"flaky_{fail_times}_{retries}")
    def fn(x, hp):
        calls["n"] += 1
        if calls["n"] <= fail_times:
            raise ConnectionError(f"attempt {calls['n']} failed")
        return x + hp.value.sum()

    return fn, calls


def test_retries_alone_and_inside_evaluate_with_the_trace():
    fn, calls = flaky(2, retries=2)
    assert fn(torch.tensor(1.0), hp=Vec3.from_tensor(torch.zeros(3))) == 1.0 and calls["n"] == 3
    fn, calls = flaky(2, retries=1)
    with pytest.raises(ConnectionError, match="attempt 2"):
        fn(torch.tensor(1.0), hp=Vec3.from_tensor(torch.zeros(3)))

    fn, calls = flaky(1, retries=1)

    class S(HyperSystem):
        def run(self, x):
            return fn(x)

    s = S()
    score = s.evaluate(
        [Example({"x": torch.tensor(float(i))}, None) for i in range(3)],
        lambda p, e: float(p.sum()),
        collect_trace=True,
    )
    assert math.isfinite(score)
    records = s.call_history()
    assert [r.attempts for r in records] == [2, 1, 1] and all(r.ok for r in records)
    assert [r.example_index for r in records] == [0, 1, 2]
    summary = s.call_summary()[fn.name]
    assert summary.calls == 3 and summary.retries == 1 and summary.error_rate == 0.0
    assert summary.latency_p50_s <= summary.latency_p99_s


def test_sync_timeout_stops_waiting_and_async_timeout_cancels():
    @hyperfunction(hp_type=Vec3, timeout_s=0.2)
    def slow(x, hp):
        time.sleep(2.0)
        return x

    started = time.perf_counter()
    with pytest.raises(TimeoutError, match="timeout_s=0.2"):
        slow(1, hp=Vec3.from_tensor(torch.zeros(3)))
    assert time.perf_counter() - started < 1.5  # stopped waiting long before the body's 2 s

    cancelled = []

    @hyperfunction(hp_type=Vec3, timeout_s=0.1)
    async def slow_async(x, hp):
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return x

    class S(HyperSystem):
        async def run(self, x):
            return await slow_async(x)

    s = S()
    with pytest.raises(EvaluationError, match="example 0: TimeoutError"):
        s.evaluate([Example({"x": 1.0}, 0.0)], lambda p, e: 0.0)
    assert cancelled == [True]


def test_max_calls_is_per_run_and_fails_only_that_candidate():
    @hyperfunction(hp_type=Vec3, max_calls=3)
    def step(x, hp):
        return x + hp.value[0]

    class Looping(HyperSystem):
        def run(self, x, n):
            for _ in range(int(n)):
                x = step(x)
            return x

    s = Looping()
    ok = [Example({"x": torch.tensor(0.0), "n": 3}, None) for _ in range(4)]  # 3 calls per run, 12 in all: fine
    s.evaluate(ok, lambda p, e: 0.0)
    with pytest.raises(EvaluationError, match="more than max_calls=3"):
        s.evaluate([Example({"x": torch.tensor(0.0), "n": 4}, None)], lambda p, e: 0.0)

    class Guarded(HyperSystem):  # the number of calls depends on θ: a runaway candidate is cut off
        def run(self, x):
            out, calls = x, 0
            while calls < 10 and float(step(out)) < 5:
                out, calls = step(out), calls + 2
            return out

    g = Guarded()
    g.register_hyperfunction(step, hp_init=torch.tensor([1.0, 0.0, 0.0]))
    errors = []
    scores = g.evaluate_population(
        [{"step": torch.tensor([5.0, 0, 0])}, {"step": torch.tensor([0.1, 0, 0])}],
        [Example({"x": torch.tensor(0.0)}, None)],
        lambda p, e: float(p.sum()),
        errors=errors,
    )
    assert g.batched_refusal is not None  # float() on a tensor cannot be vmapped
    assert math.isfinite(scores[0]) and scores[1] == -math.inf and "max_calls" in errors[1] and errors[0] is None


def test_seed_fixes_the_randomness_of_run_and_restores_the_global_generator():
    @hyperfunction(hp_type=Vec3)
    def noisy(x, hp):
        return x + torch.randn(()) * hp.value.abs().sum()

    class S(HyperSystem):
        def run(self, x):
            return noisy(x)

    s = S()
    s.register_hyperfunction(noisy, hp_init=torch.ones(3))
    data = [Example({"x": torch.tensor(0.0)}, None) for _ in range(5)]
    metric = lambda p, e: float(p.sum())  # noqa: E731
    torch.manual_seed(123)
    before = torch.rand(())
    torch.manual_seed(123)
    a, b = s.evaluate(data, metric, seed=7), s.evaluate(data, metric, seed=7)
    after = torch.rand(())
    assert a == b and s.evaluate(data, metric, seed=8) != a
    assert torch.equal(before, after)  # the caller's generator is untouched
    assert s.evaluate(data, metric) != s.evaluate(data, metric)


def test_environment_state_reaches_every_run_unchanged():
    seen = []

    @hyperfunction(hp_type=Vec3)
    def act(x, hp):
        return x * hp.value[0]

    class Env(HyperSystem):
        def run(self, x, environment_state):
            seen.append(environment_state)
            return act(x) + environment_state["offset"]

    class NoEnv(HyperSystem):
        def run(self, x):
            return act(x)

    env = {"offset": 10.0}
    s = Env()
    s.register_hyperfunction(act, hp_init=torch.tensor([2.0, 0, 0]))
    data = [Example({"x": torch.tensor(float(i))}, None) for i in range(3)]
    assert s.evaluate(data, lambda p, e: float(p.sum()), environment_state=env) == 2 * 3 + 30
    assert all(e is env for e in seen)
    pop = s.evaluate_population([{"act": torch.tensor([2.0, 0, 0])}], data, lambda p, e: p.sum(), environment_state=env)
    assert pop == [36.0] and s.batched_refusal is None  # batched: the state is passed once, not batched
    with pytest.raises(ValueError, match="environment_state"):
        NoEnv().evaluate(data, lambda p, e: 0.0, environment_state=env)


def test_bad_evaluation_input_fails_fast():
    class S(HyperSystem):
        def run(self, x):
            return x

    with pytest.raises(ValueError, match="examples"):
        S().evaluate([], lambda p, e: 0.0)
    with pytest.raises(ValueError, match="examples: item 0"):
        S().evaluate([{"x": 1}], lambda p, e: 0.0)
    with pytest.raises(ValueError, match="metric_fn"):
        S().evaluate([Example({"x": 1})], "accuracy")


def test_sync_timeout_leaves_the_body_running_in_the_background():
    finished = threading.Event()

    @hyperfunction(hp_type=Vec3, timeout_s=0.1)
    def slow(x, hp):
        time.sleep(0.4)
        finished.set()
        return x

    with pytest.raises(TimeoutError, match="may still finish"):
        slow(1, hp=Vec3.from_tensor(torch.zeros(3)))
    assert not finished.is_set() and finished.wait(2)  # the thread could not be stopped; it ran to its end


def test_timeout_in_a_vmapped_forward_is_detected_when_the_call_returns():
    @hyperfunction(hp_type=Vec3, timeout_s=0.05, name="slow_batched")
    def slow_batched(x, hp):
        time.sleep(0.1)
        return x * hp.value[0]

    class S(HyperSystem):
        def run(self, x):
            return slow_batched(x)

    s = S()
    s.register_hyperfunction(slow_batched, torch.ones(3))
    errors: list = []
    scores = s.evaluate_population(
        [{"slow_batched": torch.ones(3)}] * 2,
        [Example({"x": torch.tensor(1.0)}, None)],
        lambda p, e: p.sum(),
        errors=errors,
    )
    # the overrun is raised after the body returned; the vmapped forward fails and each candidate is then run
    # on its own, where the same overrun stops waiting after timeout_s: every candidate is recorded as failed
    assert scores == [-math.inf, -math.inf] and all("timeout_s=0.05" in e for e in errors)
    assert s.batched_refusal is not None and "slow_batched" in s.batched_refusal


def test_each_retry_gets_its_own_timeout_and_async_retries_rerun_the_body():
    attempts = []

    @hyperfunction(hp_type=Vec3, timeout_s=0.1, retries=2)
    async def sometimes_slow(x, hp):
        attempts.append(time.perf_counter())
        if len(attempts) < 3:
            await asyncio.sleep(5.0)
        return x

    started = time.perf_counter()
    assert asyncio.run(sometimes_slow(5, hp=Vec3.from_tensor(torch.zeros(3)))) == 5
    assert len(attempts) == 3 and time.perf_counter() - started < 2.0  # both slow attempts were cut at 0.1 s


def test_max_calls_counts_per_input_of_the_agent_runtime():
    @hyperfunction(hp_type=Vec3, max_calls=2, name="bounded_step")
    def bounded_step(x, hp):
        return x + 1

    class Loop(HyperSystem):
        def run(self, n):
            x = 0
            for _ in range(n):
                x = bounded_step(x)
            return x

    with Loop().start() as rt:
        assert [rt.ask(n=2) for _ in range(3)] == [2, 2, 2]  # 6 calls in all, 2 per input: allowed
        with pytest.raises(RuntimeError, match="more than max_calls=2"):
            rt.ask(n=3)


def test_timeout_of_a_staged_call_starts_when_its_stage_is_released():
    @hyperfunction(hp_type=Vec3, name="uneven_first")
    async def first(x, hp):
        await asyncio.sleep(0.3 if float(hp.value[0]) > 0 else 0.0)
        return x

    @hyperfunction(hp_type=Vec3, timeout_s=0.2, name="quick_second")
    async def second(x, hp):
        await asyncio.sleep(0.01)
        return x

    class S(HyperSystem):
        async def run(self, x):
            return await second(await first(x))

    s = S()
    s.discover([Example({"x": 1.0}, None)])
    errors: list = []
    # the slow candidate's first stage holds the other's second call at the gate for 0.3 s > timeout_s
    scores = s.evaluate_population(
        [{"uneven_first": torch.ones(3)}, {"uneven_first": -torch.ones(3)}],
        [Example({"x": 1.0}, None)],
        lambda p, e: 1.0,
        errors=errors,
    )
    assert errors == [None, None] and scores == [1.0, 1.0]
