"""The execution plan: chunk sizes and threads chosen by timing real chunks, kept per workload."""

from __future__ import annotations

import pytest
import torch
from hyper_systems import MLPSystem, mlp_examples, neg_mse

from hyperfunc_core.es import ESConfig
from hyperfunc_core.hyper.execution import ExecutionPlanner, Plan, Workload

# seconds per candidate of a made-up machine: 16 per chunk on one thread is fastest
COST = {(256, 2): 0.40, (64, 2): 0.30, (16, 2): 0.35, (4, 2): 0.5, (2, 2): 0.9}
COST.update({(256, 1): 0.5, (64, 1): 0.29, (16, 1): 0.2, (4, 1): 0.25, (2, 1): 0.8})


def test_the_search_walks_the_ladder_to_the_fastest_plan_without_timing_every_one():
    work = Workload(largest_chunk=256, threads=2)
    assert work.ladder() == [256, 64, 16, 4, 2]  # never one candidate alone: other kernels, other last bits
    assert Workload(65, 2).ladder() == [65, 16, 4, 2] and Workload(1, 2).ladder() == [1]
    while (plan := work.next_to_measure()) is not None:
        work.measured[plan] = COST[(plan.candidates_per_chunk, plan.threads)]
    assert work.best()[0] == Plan(16, 1)
    assert len(work.measured) < len(COST)  # 256 and 2 at one thread were never worth timing


def test_measuring_evaluates_each_candidate_once_and_the_plan_is_kept_for_the_workload(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    threads_now = {"n": 2}
    monkeypatch.setattr(torch, "set_num_threads", lambda n: threads_now.update(n=n))
    clock = {"t": 0.0}
    monkeypatch.setattr("hyperfunc_core.hyper.execution.time.perf_counter", lambda: clock["t"])
    planner, seen = ExecutionPlanner(), []

    def run_chunk(lo: int, hi: int) -> None:
        seen.extend(range(lo, hi))
        size = min(c for c, _ in COST if c >= hi - lo)  # a last, partial chunk costs as a whole one per candidate
        clock["t"] += (hi - lo) * COST[(size, threads_now["n"])]

    for _ in range(6):  # six steps of 256 candidates: measuring spreads over steps, nothing is evaluated twice
        seen.clear()
        planner.run(("mlp",), 256, 256, "auto", run_chunk)
        assert sorted(seen) == list(range(256))
    work = next(iter(planner.workloads.values()))
    assert work.chosen == Plan(16, 1)
    assert "16 candidates per chunk, 1 thread" in planner.describe()[0]
    seen.clear()
    assert planner.run(("mlp",), 256, 256, "batched", run_chunk) == Plan(256, 2) and sorted(seen) == list(range(256))
    assert planner.run(("other shapes",), 256, 256, "auto", run_chunk) == Plan(256, 2)  # measured afresh
    assert len(planner.workloads) == 2


@pytest.mark.parametrize("examples_count", [40, 300])
def test_every_execution_mode_scores_the_population_alike(examples_count):
    threads = torch.get_num_threads()
    system = MLPSystem()
    examples = mlp_examples(examples_count)
    system.evaluate(examples[:1], neg_mse)
    layout = system.trainable_layout()
    candidates = layout.flatten(system.get_hp_state()) + 0.3 * torch.randn(49, layout.size)  # a lone last one
    fixed = system.evaluate_population(candidates, examples, neg_mse, execution="batched", max_batch_size=2000)
    assert system.last_plan.candidates_per_chunk == min(49, 2000 // examples_count)
    loop = system.evaluate_population(candidates, examples, neg_mse, execution="loop", max_batch_size=2000)
    assert system.last_plan.candidates_per_chunk == 1
    for _ in range(4):
        auto = system.evaluate_population(candidates, examples, neg_mse, max_batch_size=2000)
        assert auto == fixed  # bit for bit whatever chunks the plan tries: a resumed run scores alike
    assert torch.allclose(torch.tensor(loop), torch.tensor(fixed), rtol=1e-5, atol=1e-6)
    assert any(w.measured for w in system.planner.workloads.values())
    assert torch.get_num_threads() == threads  # put back after every plan


def test_an_unknown_execution_mode_fails_naming_it():
    with pytest.raises(ValueError, match="execution: expected one of .*'auto'.*got 'fast'"):
        ESConfig(execution="fast")
    system = MLPSystem()
    with pytest.raises(ValueError, match="execution: expected"):
        system.evaluate_population([{}], mlp_examples(4), neg_mse, execution="fast")


def test_candidates_that_cannot_reach_the_top_k_stop_early_and_the_elite_is_exact():
    from hyperfunc_core.es import CMAES, init_state, tell
    from hyperfunc_core.es.base import best_first
    from hyperfunc_core.hyper.metrics import MeanOverExamples

    accuracy = MeanOverExamples(lambda p, e: -(p - e).abs().mean().clamp(max=1.0), -1.0, 0.0)  # bounded error
    system = MLPSystem()
    examples = mlp_examples(400)
    system.evaluate(examples[:1], neg_mse)
    layout = system.trainable_layout()
    gen = torch.Generator().manual_seed(3)
    scale = torch.tensor([0.05, 5.0]).repeat_interleave(32).unsqueeze(1)  # near θ, and far off
    candidates = layout.flatten(system.get_hp_state()) + scale * torch.randn(64, layout.size, generator=gen)
    full = torch.tensor(system.evaluate_population(candidates, examples, accuracy))
    assert system.last_early_exit is None
    early = torch.tensor(system.evaluate_population(candidates, examples, accuracy, top_k=8))
    cost = system.last_early_exit
    assert cost["stopped"] > 0 and cost["pairs"] < cost["of"]
    top = best_first(full)[:8]
    assert torch.equal(best_first(early)[:8], top) and torch.allclose(early[top], full[top])
    rest = torch.ones(64, dtype=torch.bool)
    rest[top] = False
    assert (early[rest] < full[top].min()).all() and (early >= full - 1e-6).all()  # upper bounds, below the elite
    config = ESConfig(pop_size=64, strategy=CMAES(), sigma=1.0)  # CMA-ES learns from its μ = 32 best alone
    assert config.algorithm.elite_count(64) == 32
    state = init_state(config, layout, layout.flatten(system.get_hp_state()))
    noise = (candidates - state.theta).double()
    mu = torch.tensor(system.evaluate_population(candidates, examples, accuracy, top_k=32))
    assert torch.equal(
        tell(config, layout, state, noise, full, candidates).theta, tell(config, layout, state, noise, mu).theta
    )
    from types import SimpleNamespace

    from hyperfunc_core.hyper.training import evaluate_candidates

    job = SimpleNamespace(system=system, metric_fn=accuracy, environment_state=None, config=config)
    shard = candidates[:32]  # half the population, which may hold all of its μ = 32 best: nothing stops early
    assert evaluate_candidates(job, shard, examples, population=64)[0] == full[:32].tolist()
    assert system.last_early_exit is None
    evaluate_candidates(job, shard, examples)  # a whole population of 32: its own μ = 16
    assert system.last_early_exit is not None


def test_a_lone_last_candidate_runs_beside_its_neighbour_so_every_plan_scores_the_same_bits():
    from hyperfunc_core import Example, HyperSystem, TensorParam, hyperfunction

    @hyperfunction(hp_type=TensorParam.create(64, 9), name="wide")
    def wide(x, hp):
        return torch.tanh(x @ hp.value[:, :-1].T + hp.value[:, -1])

    @hyperfunction(hp_type=TensorParam.create(1, 65), name="out")
    def out(h, hp):
        return (h @ hp.value[:, :-1].T + hp.value[:, -1]).squeeze(-1)

    class Wide(HyperSystem):  # wide enough that torch runs a batch of one through other kernels
        def run(self, x):
            return out(wide(x))

    gen = torch.Generator().manual_seed(0)
    examples = [Example({"x": torch.randn(8, generator=gen)}, torch.randn((), generator=gen)) for _ in range(1000)]
    system = Wide()
    system.evaluate(examples[:1], neg_mse)
    layout = system.trainable_layout()
    candidates = layout.flatten(system.get_hp_state()) + 0.1 * torch.randn(67, layout.size, generator=gen)
    reference = system.evaluate_population(candidates, examples, neg_mse, execution="batched")  # chunks of 65, 2
    for population in range(3, 68, 2):  # chunks of 2: candidate population-1 is left over each time
        assert (
            system.evaluate_population(
                candidates[:population], examples, neg_mse, execution="batched", max_batch_size=2000
            )
            == reference[:population]
        )
