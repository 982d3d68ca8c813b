"""The ES strategies (CMA-ES, separable CMA-ES, SNES, PGPE, CEM, restarts) as pure ask/tell:
standard test functions, bit-for-bit resume from a saved state, and the epoch flow."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import pytest
import torch

from hyperfunc_core.es import CEM, CMAES, PGPE, SNES, ESConfig, Layout, OpenAIES, Restarts, ask, init_state, tell
from hyperfunc_core.es.strategy import ESState

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "es"))
import affine  # noqa: E402


def sphere(x: torch.Tensor) -> torch.Tensor:
    return (x**2).sum(-1)


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (100 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1 - x[..., :-1]) ** 2).sum(-1)


def rastrigin(x: torch.Tensor) -> torch.Tensor:
    return 10 * x.shape[-1] + (x**2 - 10 * torch.cos(2 * math.pi * x)).sum(-1)


def minimise(strategy, f, dim: int, steps: int, start: float, sigma: float, pop: int = 20, seed: int = 0):
    """The best value of ``f`` seen over ``steps`` asks, and the final state."""
    config = ESConfig(pop_size=pop, sigma=sigma, lr=0.1, strategy=strategy, seed=seed)
    layout = Layout.build({"x": (dim,)})
    state = init_state(config, layout, torch.full((dim,), start))
    best = math.inf
    for _ in range(steps):
        candidates, noise = ask(config, layout, state)
        values = f(candidates.double())
        best = min(best, float(values.min()))
        state = tell(config, layout, state, noise, -values, candidates)
    return best, state


@pytest.mark.parametrize(
    "strategy, reached",
    [
        (CMAES(), 1e-12),
        (CMAES(separable=True), 1e-12),
        (SNES(), 1e-8),
        (CEM(), 1e-12),
        (PGPE(center_lr=0.1, optimizer_kwargs={"max_speed": 0.2}), 0.1),
        (None, 1.0),  # OpenAI-ES: a fixed σ stops short of the optimum, by design
    ],
    ids=["cma_es", "sep_cma_es", "snes", "cem", "pgpe", "openai_es"],
)
def test_each_strategy_descends_a_10d_sphere(strategy, reached):
    best, state = minimise(strategy, sphere, 10, 200, start=1.0, sigma=0.5)
    assert best < reached, best
    assert state.step == 200 and state.best_score == pytest.approx(-best, rel=1e-4)


def test_cma_es_solves_rosenbrock_where_the_diagonal_variants_crawl():
    full, _ = minimise(CMAES(), rosenbrock, 5, 1000, start=0.0, sigma=0.5)
    separable, _ = minimise(CMAES(separable=True), rosenbrock, 5, 1000, start=0.0, sigma=0.5)
    snes, _ = minimise(SNES(), rosenbrock, 5, 1000, start=0.0, sigma=0.5)
    assert full < 1e-8 and separable > 1e3 * full and snes > 1e3 * full


def test_restarts_with_growing_populations_escape_rastrigins_local_minima():
    alone, _ = minimise(CMAES(), rastrigin, 5, 1000, start=2.0, sigma=2.0)
    restarted, state = minimise(Restarts(CMAES(), patience=50), rastrigin, 5, 1000, start=2.0, sigma=2.0)
    assert alone > 0.5  # one CMA-ES run settles in a local minimum
    assert restarted < 1e-6 and state.extra["restarts"] >= 1 and state.extra["pop_size"] > 20


STRATEGIES = [
    None,
    CMAES(),
    CMAES(separable=True),
    SNES(),
    PGPE(),
    CEM(),
    Restarts(SNES(), patience=3, max_restarts=2),
]
NAMES = ["openai_es", "cma_es", "sep_cma_es", "snes", "pgpe", "cem", "restarts"]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=NAMES)
def test_a_state_saved_and_loaded_mid_run_continues_bit_for_bit(strategy):
    config = ESConfig(pop_size=12, sigma=0.3, strategy=strategy, seed=5)
    layout = Layout.build({"w": (3, 4), "b": (4,)}, {"w": 1})

    def steps(state: ESState, count: int) -> ESState:
        for _ in range(count):
            candidates, noise = ask(config, layout, state)
            state = tell(config, layout, state, noise, -rastrigin(candidates), candidates)
        return state

    start = init_state(config, layout, torch.linspace(-1, 1, layout.size))
    straight = steps(start, 12)
    buffer = io.BytesIO()
    torch.save(steps(start, 5).to_dict(), buffer)
    buffer.seek(0)
    resumed = steps(ESState.from_dict(torch.load(buffer, weights_only=False)), 7)
    assert torch.equal(straight.theta, resumed.theta) and straight.best_score == resumed.best_score
    assert straight.step == resumed.step == 12


@pytest.mark.parametrize("strategy", STRATEGIES[1:], ids=NAMES[1:])
def test_every_strategy_trains_in_the_epoch_loop_and_resumes_from_its_checkpoint(strategy, tmp_path):
    url = f"sqlite:///{tmp_path / 'es.db'}"
    options = {"steps_per_epoch": 5, "storage": url, "orchestrate": False}

    def system() -> affine.AffineSystem:
        config = ESConfig(pop_size=16, sigma=0.1, strategy=strategy, seed=2)
        return affine.AffineSystem(system_optimizer=config)

    straight = system()
    first = straight.evaluate(affine.TRAIN, affine.mse_metric)
    result = straight.optimize(affine.TRAIN, affine.mse_metric, steps=20, run_name="straight", **options)
    assert straight.evaluate(affine.TRAIN, affine.mse_metric) > first
    assert all(m["sigma"] is not None and m["sigma"] > 0 for m in result["history"])
    stopped = system()
    stopped.optimize(affine.TRAIN, affine.mse_metric, steps=10, run_name="stopped", **options)
    again = system()  # a fresh process's system: everything comes from the checkpoint of epoch 1
    more = again.optimize(affine.TRAIN, affine.mse_metric, steps=20, run_name="stopped", **options)
    assert more["resumed_from_epoch"] == 2
    assert all(torch.equal(straight.get_hp_state()[k], again.get_hp_state()[k]) for k in straight.get_hp_state())
    changed = affine.AffineSystem(system_optimizer=ESConfig(pop_size=16, sigma=0.1, strategy=OpenAIES(), seed=2))
    with pytest.raises(ValueError, match="other settings.*strategy"):
        changed.optimize(affine.TRAIN, affine.mse_metric, steps=30, run_name="stopped", **options)
    faster = system()  # how the population runs may change between resumes
    faster.system_optimizer.execution = "batched"
    assert faster.optimize(affine.TRAIN, affine.mse_metric, steps=30, run_name="stopped", **options)["steps"] == 30


def test_strategy_names_are_shortcuts_and_bad_strategies_fail_naming_the_field():
    assert isinstance(ESConfig(strategy="cma_es").algorithm, CMAES)
    assert ESConfig(strategy="sep_cma_es").algorithm.separable
    assert ESConfig(strategy="snes").as_dict()["strategy"]["name"] == "snes"
    nested = ESConfig(strategy=Restarts(CMAES(sigma=0.2))).as_dict()["strategy"]
    assert nested["strategy"] == {"name": "cma_es", **nested["strategy"]} and nested["strategy"]["sigma"] == 0.2
    for kwargs, expected in [
        ({"strategy": "lbfgs"}, "strategy: expected"),
        ({"strategy": CMAES(), "pop_size": 3}, "pop_size: CMA-ES needs at least 4"),
        ({"strategy": PGPE(), "pop_size": 7, "antithetic": False}, "pop_size: PGPE .* even"),
        ({"strategy": CEM(elite_ratio=0.05), "pop_size": 16}, "CEM.elite_ratio"),
        ({"strategy": SNES(sigma=-1.0)}, "SNES.sigma: expected a positive number, got -1.0"),
        ({"strategy": Restarts(Restarts(CMAES()))}, "Restarts.strategy"),
        ({"strategy": Restarts(CMAES(), pop_growth=0.5)}, "Restarts.pop_growth"),
    ]:
        with pytest.raises(ValueError, match=expected):
            ESConfig(**kwargs)
    with pytest.raises(ValueError, match="separable=True"):
        init_state(ESConfig(strategy=CMAES(max_full_size=10)), Layout.build({"x": (11,)}), torch.zeros(11))
