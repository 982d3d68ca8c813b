"""ES benchmarks: batched population evaluation, EvoTorch as a baseline, Prefect's overhead.

    .venv/bin/python benchmarks/es.py                      # all three parts
    .venv/bin/python benchmarks/es.py batching --device cuda
    .venv/bin/python benchmarks/es.py evotorch --steps 100
    .venv/bin/python benchmarks/es.py orchestration

EvoTorch is installed only for this script (``scripts/setup.sh --bench``). Each figure is
printed beside its baseline, measured in the same run, as a ratio.

- batching: ``evaluate_population`` on a two-layer MLP system (64 hidden units), population
  256, 1,000 examples, against (a) a per-candidate loop whose forward already batches the
  examples and (b) per-candidate, per-example ``evaluate`` (timed on a few candidates and
  scaled to the population: running all 256,000 calls would take minutes to say the same).
- evotorch: the same problem, population and number of steps with EvoTorch's PGPE (with
  ClipUp, centered ranks, antithetic sampling: its closest match to our ES) given a
  hand-batched forward; seconds per step and the loss reached.
- orchestration: the shape classifier example trained as a Prefect flow against the same
  steps in the plain loop.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IN, HIDDEN, OUT = 8, 64, 1


def mlp_problem(n_examples: int, seed: int = 0):
    """A two-layer MLP system and data from a random teacher network of the same shape."""
    from hyperfunc_core import Example, HyperSystem, TensorParam, hyperfunction

    Layer1 = TensorParam.create(HIDDEN, IN + 1, noise_rank=4)
    Layer2 = TensorParam.create(OUT, HIDDEN + 1, noise_rank=1)

    @hyperfunction(hp_type=Layer1, name="hidden")
    def hidden(x, hp):
        w = hp.value
        return torch.tanh(x @ w[:, :-1].T + w[:, -1])

    @hyperfunction(hp_type=Layer2, name="head")
    def head(h, hp):
        w = hp.value
        return (h @ w[:, :-1].T + w[:, -1]).squeeze(-1)

    class MLP(HyperSystem):
        def run(self, x):
            return head(hidden(x))

    gen = torch.Generator().manual_seed(seed)
    teacher = {
        "hidden": torch.randn(HIDDEN, IN + 1, generator=gen) * 0.5,
        "head": torch.randn(OUT, HIDDEN + 1, generator=gen) * 0.3,
    }
    xs = torch.randn(n_examples, IN, generator=gen)
    with torch.no_grad():
        ys = (
            torch.tanh(xs @ teacher["hidden"][:, :-1].T + teacher["hidden"][:, -1]) @ teacher["head"][:, :-1].T
            + teacher["head"][:, -1]
        ).squeeze(-1)
    examples = [Example({"x": x}, y) for x, y in zip(xs, ys)]
    return MLP, (hidden, head), examples, xs, ys


def neg_mse(preds, expected):
    return -((preds - expected) ** 2).mean()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up (vmap tracing, allocator)
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def batching(device: torch.device, population: int, n_examples: int, repeats: int, slow_sample: int) -> bool:
    MLP, (hidden, head), examples, xs, ys = mlp_problem(n_examples)
    system = MLP(device=device)
    system.register_hyperfunction(hidden)
    system.register_hyperfunction(head)
    layout = system.trainable_layout()
    theta = layout.flatten(system.get_hp_state())
    candidates = theta.unsqueeze(0) + 0.1 * torch.randn(
        population, layout.size, generator=torch.Generator().manual_seed(1)
    ).to(device)
    named = layout.unflatten(candidates)
    x_all, y_all = xs.to(device), ys.to(device)

    def batched():
        return system.evaluate_population(candidates, examples, neg_mse)

    def loop_examples_batched():  # per candidate, one forward over all examples
        with torch.no_grad():
            return [
                float(
                    neg_mse(
                        head(hidden(x_all, hp=_hp(hidden, named["hidden"][i])), hp=_hp(head, named["head"][i])), y_all
                    )
                )
                for i in range(population)
            ]

    few = [{k: v[i] for k, v in named.items()} for i in range(slow_sample)]

    def loop_per_example():  # per candidate, per example, through evaluate()
        saved = system.get_hp_state()
        for c in few:
            system.set_hp_state(c)
            system.evaluate(examples, neg_mse)
        system.set_hp_state(saved)

    t_batched = _timed(batched, repeats, device)
    t_loop = _timed(loop_examples_batched, repeats, device)
    t_slow = _timed(loop_per_example, 1, device) * population / slow_sample
    assert system.batched_refusal is None, system.batched_refusal
    check = torch.tensor(batched())[:8]
    reference = torch.tensor(loop_examples_batched()[:8])
    agree = torch.allclose(check, reference, rtol=1e-4, atol=1e-5)
    print(f"\nBatching: two-layer MLP ({HIDDEN} hidden), population {population}, {n_examples} examples, {device}")
    print(f"  evaluate_population (one vmapped forward)      {t_batched * 1000:>10.1f} ms")
    print(
        f"  per-candidate loop, examples batched           {t_loop * 1000:>10.1f} ms   {t_loop / t_batched:>7.1f}x slower  (target >= 5x)"
    )
    print(
        f"  per-candidate, per-example evaluate()          {t_slow * 1000:>10.1f} ms   {t_slow / t_batched:>7.1f}x slower  (target >= 50x;"
        f" timed on {slow_sample} candidates, scaled)"
    )
    print(f"  scores equal to the loop's: {agree}")
    return t_loop / t_batched >= 5 and t_slow / t_batched >= 50 and agree


def _hp(hf, tensor):
    return hf.hp_type.from_tensor(tensor)


def evotorch_comparison(population: int, n_examples: int, steps: int, device: torch.device) -> bool:
    from evotorch import Problem
    from evotorch.algorithms import PGPE

    from hyperfunc_core import ESHybridSystemOptimizer

    MLP, (hidden, head), examples, xs, ys = mlp_problem(n_examples)
    config = ESHybridSystemOptimizer(
        steps=steps,
        pop_size=population,
        sigma=0.1,
        lr=0.05,
        optimizer="clipup",
        optimizer_kwargs={"max_speed": 0.1},
        seed=0,
    )
    system = MLP(system_optimizer=config, device=device)
    system.register_hyperfunction(hidden)
    system.register_hyperfunction(head)
    layout = system.trainable_layout()
    theta0 = layout.flatten(system.get_hp_state()).clone()
    start = time.perf_counter()
    system.optimize(
        examples,
        neg_mse,
        orchestrate=False,
        steps=steps,
        steps_per_epoch=steps,
        run_name=f"bench-evotorch-{time.time()}",
    )
    ours_s = (time.perf_counter() - start) / steps
    ours_loss = -system.evaluate_population([system.get_hp_state()], examples, neg_mse)[0]

    x_all, y_all = xs.to(device), ys.to(device)
    n1 = HIDDEN * (IN + 1)

    def batched_loss(solutions: torch.Tensor) -> torch.Tensor:  # (P, d) -> (P,), a hand-batched forward
        w1 = solutions[:, :n1].reshape(-1, HIDDEN, IN + 1)
        w2 = solutions[:, n1:].reshape(-1, OUT, HIDDEN + 1)
        h = torch.tanh(torch.einsum("ni,phi->pnh", x_all, w1[:, :, :-1]) + w1[:, None, :, -1])
        out = (torch.einsum("pnh,poh->pno", h, w2[:, :, :-1]) + w2[:, None, :, -1]).squeeze(-1)
        return ((out - y_all) ** 2).mean(1)

    # our layout orders blocks by name ("head" before "hidden"): give EvoTorch the same start, reordered
    start_named = layout.unflatten(theta0)
    center = torch.cat([start_named["hidden"].reshape(-1), start_named["head"].reshape(-1)])
    problem = Problem(
        "min",
        batched_loss,
        solution_length=center.numel(),
        vectorized=True,
        device=device,
        initial_bounds=(-0.1, 0.1),
        seed=0,
    )
    searcher = PGPE(
        problem,
        popsize=population,
        center_learning_rate=0.05,
        stdev_learning_rate=0.0,
        stdev_init=0.1,
        optimizer="clipup",
        optimizer_config={"max_speed": 0.1},
        ranking_method="centered",
        symmetric=True,
        center_init=center.to(device),
    )
    start = time.perf_counter()
    for _ in range(steps):
        searcher.step()
    theirs_s = (time.perf_counter() - start) / steps
    theirs_loss = float(batched_loss(searcher.status["center"].unsqueeze(0).to(device))[0])
    print(
        f"\nAgainst EvoTorch: same MLP problem, population {population}, {n_examples} examples, {steps} steps, {device}"
    )
    print(f"  {'':<28} {'s/step':>10} {'final MSE':>12}")
    print(f"  {'hyperfunc ES (ClipUp)':<28} {ours_s:>10.4f} {ours_loss:>12.5f}")
    print(f"  {'EvoTorch PGPE (ClipUp)':<28} {theirs_s:>10.4f} {theirs_loss:>12.5f}")
    print(
        f"  per step: ours {ours_s / theirs_s:.2f}x EvoTorch's time (target <= 1); "
        f"loss: ours {ours_loss / theirs_loss:.2f}x EvoTorch's (target <= 1)"
    )
    return ours_s <= theirs_s and ours_loss <= theirs_loss


def orchestration(repeats: int) -> bool:
    sys.path.insert(0, str(ROOT / "examples" / "shape_classifier"))
    import system as shapes

    from hyperfunc_core.hyper.training import prepare_training
    from hyperfunc_core.launch import run_training

    def once(flow: bool, tag: str, steps_per_task: int = 1) -> float:
        model = shapes.ShapeClassifier()
        job = prepare_training(
            model,
            shapes.TRAIN,
            shapes.log_likelihood,
            val=shapes.VAL,
            run_name=f"bench-{tag}-{time.time()}",
            steps_per_task=steps_per_task,
        )
        start = time.perf_counter()
        run_training(job, orchestrate=flow)
        return time.perf_counter() - start

    once(True, "warm")  # start Prefect's server and import its engine before timing
    per_epoch = math.ceil(len(shapes.TRAIN) / shapes.ShapeClassifier().system_optimizer.batch_size)
    plain = [once(False, "plain") for _ in range(repeats)]
    flow = [once(True, "flow") for _ in range(repeats)]
    blocks = [once(True, "flow-epoch-tasks", per_epoch) for _ in range(repeats)]
    p, f, b = statistics.median(plain), statistics.median(flow), statistics.median(blocks)
    steps = shapes.ShapeClassifier().system_optimizer.steps
    epochs = math.ceil(steps / per_epoch)
    import prefect.settings

    url = prefect.settings.get_current_settings().server.database.connection_url
    backend = str(url.get_secret_value()).split("://")[0] if url is not None else "sqlite"
    api = prefect.settings.PREFECT_API_URL.value()
    where = f"the server at {api}" if api else f"a temporary server on {backend}"
    print(f"\nOrchestration: shape classifier, {steps} ES steps in {epochs} epochs of {per_epoch}, median of {repeats}")
    print(f"  Prefect API: {where}")
    print(f"  plain loop                              {p:>8.2f} s")
    print(
        f"  Prefect's cost per epoch (subflow, its tasks, checkpoint): {1000 * (b - p) / epochs:.0f} ms "
        f"with a task per epoch's steps, {1000 * (f - p) / epochs:.0f} ms with a task per step"
    )
    print(f"  Prefect flow, a task per step           {f:>8.2f} s   {100 * (f / p - 1):+.1f}% (target <= +10%)")
    print(
        f"  Prefect flow, a task per epoch's steps  {b:>8.2f} s   {100 * (b / p - 1):+.1f}% (steps_per_task={per_epoch})"
    )
    return min(f, b) <= 1.10 * p


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", choices=["all", "batching", "evotorch", "orchestration"], default="all")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--population", type=int, default=256)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slow-sample", type=int, default=4)
    parser.add_argument(
        "--prefect-database-url",
        default=None,
        help="orchestration: a temporary Prefect server on this database, e.g. "
        "postgresql+asyncpg://hyperfunc:hyperfunc@127.0.0.1:5432/prefect_bench (default: SQLite)",
    )
    args = parser.parse_args()
    if args.prefect_database_url:  # read by Prefect at import, so set before anything imports it
        os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = args.prefect_database_url
    device = torch.device(args.device)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    ok = True
    if args.part in ("all", "batching"):
        ok &= batching(device, args.population, args.examples, args.repeats, args.slow_sample)
    if args.part in ("all", "evotorch"):
        ok &= evotorch_comparison(args.population, args.examples, args.steps, device)
    if args.part in ("all", "orchestration"):
        ok &= orchestration(args.repeats)
    print("\nall targets met" if ok else "\nsome targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
