"""ES benchmarks: the execution plan, memory, the strategies and a classifier against EvoTorch, Prefect's overhead.

    .venv/bin/python benchmarks/es.py                      # every part
    .venv/bin/python benchmarks/es.py plan --device cuda
    .venv/bin/python benchmarks/es.py strategies --seeds 10
    .venv/bin/python benchmarks/es.py classifier
    .venv/bin/python benchmarks/es.py orchestration

EvoTorch is installed only for this script (``scripts/setup.sh --bench``). Each figure is
printed beside its baseline, measured in the same run, as a ratio.

- plan: ``evaluate_population`` on a two-layer MLP system (64 hidden units), population 256,
  1,000 examples, under the measured plan (``auto``, its measuring included) against the two
  fixed paths (``batched``: the biggest chunks; ``loop``: one candidate at a time), at torch's
  thread count and at one thread; a hand-written per-candidate loop for reference.
- memory: peak memory added by one evaluation, population 64 to 4,096 × 10,000 examples.
- strategies: ours and EvoTorch's CMA-ES, separable CMA-ES, SNES, PGPE and CEM (and our IPOP
  restarts) on 10-D sphere, Rosenbrock and Rastrigin, same start, σ, population and steps.
- classifier: a 10-class MLP (5.5k parameters) trained to 90 % training accuracy, population 256:
  wall time and evaluations for our PGPE and SNES, EvoTorch's PGPE and SNES on a hand-batched
  forward, and our PGPE on a plain per-candidate loop.
- evotorch: the regression MLP, same steps, ours (OpenAI-ES with ClipUp) against EvoTorch's PGPE.
- orchestration: the shape classifier example trained as a Prefect flow against the same
  steps in the plain loop.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IN, HIDDEN, OUT = 8, 64, 1


def mlp_system(n_in: int, n_hidden: int, n_out: int, ranks: tuple = (None, None)):
    """A two-layer tanh MLP as a HyperSystem: (its class, the hidden layer, the head); a single output is squeezed."""
    from hyperfunc_core import HyperSystem, TensorParam, hyperfunction

    @hyperfunction(hp_type=TensorParam.create(n_hidden, n_in + 1, noise_rank=ranks[0]), name="hidden")
    def hidden(x, hp):
        w = hp.value
        return torch.tanh(x @ w[:, :-1].T + w[:, -1])

    @hyperfunction(hp_type=TensorParam.create(n_out, n_hidden + 1, noise_rank=ranks[1]), name="head")
    def head(h, hp):
        w = hp.value
        out = h @ w[:, :-1].T + w[:, -1]
        return out.squeeze(-1) if n_out == 1 else out

    class MLP(HyperSystem):
        def run(self, x):
            return head(hidden(x))

    return MLP, hidden, head


def mlp_problem(n_examples: int, seed: int = 0):
    """A two-layer MLP system and data from a random teacher network of the same shape."""
    from hyperfunc_core import Example

    MLP, hidden, head = mlp_system(IN, HIDDEN, OUT, ranks=(4, 1))
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


def plan(device: torch.device, population: int, n_examples: int, steps: int) -> bool:
    """The measured execution plan against the two fixed paths, at torch's threads and at one."""
    MLP, (hidden, head), examples, xs, ys = mlp_problem(n_examples)
    x_all, y_all = xs.to(device), ys.to(device)
    print(
        f"\nExecution plan: two-layer MLP ({HIDDEN} hidden), population {population}, {n_examples} examples, {device}"
    )
    print(f"  {steps} population evaluations each (the plan's measuring included); seconds per evaluation")
    print(
        f"  {'torch threads':<14} {'auto':>8} {'batched':>8} {'loop':>8} {'hand loop':>10}   auto / better fixed   plan chosen"
    )
    ok = True
    for threads in dict.fromkeys([torch.get_num_threads(), 1]):
        torch.set_num_threads(threads)
        row, chosen = {}, None
        for mode in ("batched", "loop", "auto"):
            system = MLP(device=device)
            system.register_hyperfunction(hidden)
            system.register_hyperfunction(head)
            layout = system.trainable_layout()
            gen = torch.Generator().manual_seed(1)
            theta = layout.flatten(system.get_hp_state())
            batches = [theta + 0.1 * torch.randn(population, layout.size, generator=gen) for _ in range(steps)]
            system.evaluate_population(batches[0][:2], examples, neg_mse, execution="batched")  # vmap warm-up
            _sync(device)
            start = time.perf_counter()
            for candidates in batches:
                system.evaluate_population(candidates, examples, neg_mse, execution=mode)
            _sync(device)
            row[mode] = (time.perf_counter() - start) / steps
            chosen = system.last_plan.describe() if mode == "auto" else chosen
            named = layout.unflatten(batches[0].to(device))
        start = time.perf_counter()
        with torch.no_grad():  # what a user writes by hand: one forward per candidate over all examples
            for i in range(population):
                out = head(hidden(x_all, hp=_hp(hidden, named["hidden"][i])), hp=_hp(head, named["head"][i]))
                float(neg_mse(out, y_all))
        _sync(device)
        row["hand"] = time.perf_counter() - start
        ratio = row["auto"] / min(row["batched"], row["loop"])
        ok &= ratio <= 1.10
        print(
            f"  {threads:<14} {row['auto']:>8.4f} {row['batched']:>8.4f} {row['loop']:>8.4f} {row['hand']:>10.4f}"
            f"   {ratio:>5.2f} (target <= 1.10)   {chosen}"
        )
    return ok


def memory(populations: list[int], n_examples: int) -> bool:
    """Peak memory of one population evaluation as the population grows (a fresh process each)."""
    import subprocess

    print(f"\nMemory: one evaluate_population, {n_examples} examples, max_batch_size 65536 (fresh process each)")
    print(f"  {'population':>10} {'peak RSS added':>15} {'seconds':>8}")
    peaks = []
    for population in populations:
        out = subprocess.run(
            [sys.executable, __file__, "memory-one", "--population", str(population), "--examples", str(n_examples)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        peaks.append(float(out[0]))
        print(f"  {population:>10} {float(out[0]):>12.0f} MB {float(out[1]):>8.1f}")
    growth = peaks[-1] / max(1.0, peaks[0])
    print(f"  largest / smallest population's added memory: {growth:.2f}x (target <= 2: flat)")
    return growth <= 2


def memory_one(population: int, n_examples: int) -> None:
    import resource

    MLP, (hidden, head), examples, _, _ = mlp_problem(n_examples)
    system = MLP()
    system.register_hyperfunction(hidden)
    system.register_hyperfunction(head)
    layout = system.trainable_layout()
    candidates = layout.flatten(system.get_hp_state()) + 0.1 * torch.randn(population, layout.size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # the data and θ are made; nothing has run
    start = time.perf_counter()
    system.evaluate_population(candidates, examples, neg_mse)
    added = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"{added:.1f} {time.perf_counter() - start:.2f}")


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


def _functions() -> dict:
    def sphere(x):
        return (x**2).sum(-1)

    def rosenbrock(x):
        return (100 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1 - x[..., :-1]) ** 2).sum(-1)

    def rastrigin(x):
        return 10 * x.shape[-1] + (x**2 - 10 * torch.cos(2 * math.pi * x)).sum(-1)

    # (function, start, initial sigma)
    return {"sphere": (sphere, 1.0, 0.5), "rosenbrock": (rosenbrock, 0.0, 0.5), "rastrigin": (rastrigin, 2.0, 2.0)}


def strategies(dim: int, population: int, steps: int, seeds: int) -> bool:
    """Ours and EvoTorch's strategies on standard functions: same start, σ, population and steps."""
    from evotorch import Problem
    from evotorch.algorithms import CEM as TorchCEM
    from evotorch.algorithms import CMAES as TorchCMAES
    from evotorch.algorithms import PGPE as TorchPGPE
    from evotorch.algorithms import SNES as TorchSNES

    from hyperfunc_core.es import CEM, CMAES, PGPE, SNES, ESConfig, Layout, Restarts, ask, init_state, tell

    logging.getLogger("evotorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="evotorch")

    pgpe = {"center_lr": 0.1, "sigma_lr": 0.1, "optimizer_kwargs": {"max_speed": 0.2}}
    ours = {
        "CMA-ES": lambda s: CMAES(sigma=s),
        "sep-CMA-ES": lambda s: CMAES(sigma=s, separable=True),
        "SNES": lambda s: SNES(sigma=s),
        "PGPE": lambda s: PGPE(sigma=s, **pgpe),
        "CEM": lambda s: CEM(sigma=s, elite_ratio=0.25, sigma_max_change=0.2),
        "IPOP-CMA-ES": lambda s: Restarts(CMAES(sigma=s), patience=50),
    }
    theirs = {
        "CMA-ES": lambda p, s, c: TorchCMAES(p, stdev_init=s, popsize=population, center_init=c),
        "sep-CMA-ES": lambda p, s, c: TorchCMAES(p, stdev_init=s, popsize=population, separable=True, center_init=c),
        "SNES": lambda p, s, c: TorchSNES(p, stdev_init=s, popsize=population, center_init=c),
        "PGPE": lambda p, s, c: TorchPGPE(
            p,
            popsize=population,
            stdev_init=s,
            center_learning_rate=0.1,
            stdev_learning_rate=0.1,
            optimizer="clipup",
            optimizer_config={"max_speed": 0.2},
            center_init=c,
        ),
        "CEM": lambda p, s, c: TorchCEM(
            p, popsize=population, parenthood_ratio=0.25, stdev_init=s, stdev_max_change=0.2, center_init=c
        ),
    }

    def run_ours(make, f, start, sigma, seed):
        config = ESConfig(pop_size=population, sigma=sigma, strategy=make(sigma), seed=seed)
        layout = Layout.build({"x": (dim,)})
        state, best = init_state(config, layout, torch.full((dim,), start)), math.inf
        for _ in range(steps):
            candidates, noise = ask(config, layout, state)
            values = f(candidates.double())
            best = min(best, float(values.min()))
            state = tell(config, layout, state, noise, -values, candidates)
        return best

    def run_theirs(make, f, start, sigma, seed):
        problem = Problem(
            "min",
            lambda x: f(x.double()).float(),
            solution_length=dim,
            vectorized=True,
            initial_bounds=(-1, 1),
            seed=seed,
        )
        searcher = make(problem, sigma, torch.full((dim,), start))
        best = math.inf
        for _ in range(steps):
            searcher.step()
            best = min(best, float(searcher.population.evals.min()))
        return best

    print(f"\nStrategies: {dim}-D functions, population {population}, {steps} steps, median best of {seeds} seeds")
    print(f"  {'':<12} " + " ".join(f"{name:>22}" for name in _functions()) + f" {'s/step':>14}")
    print(
        f"  {'':<12} " + " ".join(f"{'ours':>10} {'EvoTorch':>11}" for _ in _functions()) + f" {'ours':>6} {'EvoT.':>7}"
    )
    ok = True
    for name, make in ours.items():
        cells, ours_t, theirs_t = [], 0.0, 0.0
        for fname, (f, start, sigma) in _functions().items():
            t0 = time.perf_counter()
            mine = statistics.median(run_ours(make, f, start, sigma, seed) for seed in range(seeds))
            ours_t += time.perf_counter() - t0
            if name in theirs:
                t0 = time.perf_counter()
                other = statistics.median(run_theirs(theirs[name], f, start, sigma, seed) for seed in range(seeds))
                theirs_t += time.perf_counter() - t0
                ok &= fname == "rastrigin" or mine <= max(other * 10, 1e-8)  # same order on the smooth ones
            else:
                other = float("nan")
            cells.append(f"{mine:>10.2e} {other:>11.2e}")
        per_step = 3 * seeds * steps
        theirs_s = f"{theirs_t / per_step * 1000:>6.2f}ms" if theirs_t else f"{'-':>8}"
        print(f"  {name:<12} " + " ".join(cells) + f" {ours_t / per_step * 1000:>4.2f}ms {theirs_s}")
    return ok


def classifier(population: int, n_examples: int, target: float, max_steps: int) -> bool:
    """A 10-class MLP classifier (5.5k parameters) trained by ES to a fixed training accuracy: ours
    (PGPE and SNES through evaluate_population and its plan) against EvoTorch's PGPE and SNES on a
    hand-batched forward, and against our PGPE on a plain per-candidate loop."""
    from evotorch import Problem
    from evotorch.algorithms import PGPE as TorchPGPE
    from evotorch.algorithms import SNES as TorchSNES

    from hyperfunc_core import Example
    from hyperfunc_core.es import PGPE, SNES, ESConfig, ask, init_state, tell

    logging.getLogger("evotorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="evotorch")

    n_in, n_hidden, n_out = 32, 128, 10
    gen = torch.Generator().manual_seed(0)
    teacher = torch.randn(n_in, n_out, generator=gen)
    xs = torch.randn(n_examples, n_in, generator=gen)
    labels = (xs @ teacher + 0.5 * torch.randn(n_examples, n_out, generator=gen)).argmax(1)
    Classifier, layer, logits = mlp_system(n_in, n_hidden, n_out)

    def log_likelihood(out, label):
        return -torch.nn.functional.cross_entropy(out, label)

    examples = [Example({"x": x}, y) for x, y in zip(xs, labels)]
    n_head = n_out * (n_hidden + 1)

    def batched_logits(w: torch.Tensor) -> torch.Tensor:  # (P, d) -> (P, n, 10), written by hand
        w1, w2 = w[:, n_head:].reshape(-1, n_hidden, n_in + 1), w[:, :n_head].reshape(-1, n_out, n_hidden + 1)
        h = torch.tanh(torch.einsum("ni,phi->pnh", xs, w1[:, :, :-1]) + w1[:, None, :, -1])
        return torch.einsum("pnh,poh->pno", h, w2[:, :, :-1]) + w2[:, None, :, -1]

    def accuracy_of(theta: torch.Tensor) -> float:
        return float((batched_logits(theta.unsqueeze(0))[0].argmax(1) == labels).float().mean())

    def neg_loss(w: torch.Tensor) -> torch.Tensor:
        out = batched_logits(w)
        return (
            -torch.nn.functional.cross_entropy(out.flatten(0, 1), labels.repeat(w.shape[0]), reduction="none")
            .view(w.shape[0], -1)
            .mean(1)
        )

    system = Classifier()
    system.register_hyperfunction(layer)
    system.register_hyperfunction(logits)
    layout = system.trainable_layout()  # "head" before "hidden": batched_logits reads that order
    theta0 = layout.flatten(system.get_hp_state())

    def ours(strategy, per_candidate_loop: bool = False):
        config = ESConfig(pop_size=population, sigma=0.1, lr=0.05, strategy=strategy, seed=0)
        state = init_state(config, layout, theta0)
        start, step = time.perf_counter(), 0
        while step < max_steps:
            candidates, noise = ask(config, layout, state)
            if per_candidate_loop:
                with torch.no_grad():
                    scores = [float(neg_loss(c.unsqueeze(0))[0]) for c in candidates]
            else:
                scores = system.evaluate_population(candidates, examples, log_likelihood)
            state = tell(config, layout, state, noise, torch.tensor(scores), candidates)
            step += 1
            if step % 10 == 0 and accuracy_of(state.theta) >= target:
                break
        return time.perf_counter() - start, step, accuracy_of(state.theta)

    def theirs(make):
        problem = Problem("max", neg_loss, solution_length=layout.size, vectorized=True, seed=0)
        searcher = make(problem)
        start, step = time.perf_counter(), 0
        while step < max_steps:
            searcher.step()
            step += 1
            if step % 10 == 0 and accuracy_of(searcher.status["center"]) >= target:
                break
        return time.perf_counter() - start, step, accuracy_of(searcher.status["center"])

    pgpe = {"sigma": 0.1, "center_lr": 0.05, "sigma_lr": 0.1, "optimizer_kwargs": {"max_speed": 0.1}}
    evo_pgpe = dict(
        popsize=population,
        stdev_init=0.1,
        center_learning_rate=0.05,
        stdev_learning_rate=0.1,
        optimizer="clipup",
        optimizer_config={"max_speed": 0.1},
        center_init=theta0,
    )
    rows = {
        "hyperfunc PGPE": ours(PGPE(**pgpe)),
        "hyperfunc SNES": ours(SNES(sigma=0.1, center_lr=0.5)),
        "EvoTorch PGPE": theirs(lambda p: TorchPGPE(p, **evo_pgpe)),
        "EvoTorch SNES": theirs(
            lambda p: TorchSNES(p, popsize=population, stdev_init=0.1, center_learning_rate=0.5, center_init=theta0)
        ),
        "PGPE, per-candidate loop": ours(PGPE(**pgpe), per_candidate_loop=True),
    }
    print(
        f"\nClassifier: 10 classes, {layout.size} parameters, {n_examples} examples, population {population},"
        f" to {target:.0%} training accuracy (at most {max_steps} steps)"
    )
    print(f"  {'':<26} {'seconds':>8} {'steps':>6} {'evaluations':>12} {'accuracy':>9}")
    for name, (seconds, steps, acc) in rows.items():
        print(f"  {name:<26} {seconds:>8.1f} {steps:>6} {steps * population:>12} {acc:>9.3f}")
    best_ours = min(rows["hyperfunc PGPE"][0], rows["hyperfunc SNES"][0])
    best_theirs = min(rows["EvoTorch PGPE"][0], rows["EvoTorch SNES"][0])
    print(f"  hyperfunc / EvoTorch time to the target (best of each): {best_ours / best_theirs:.2f}x")
    print(
        f"  hyperfunc PGPE / the per-candidate loop: {rows['hyperfunc PGPE'][0] / rows['PGPE, per-candidate loop'][0]:.2f}x"
    )
    return all(acc >= target for name, (_, _, acc) in rows.items() if name.startswith("hyperfunc"))


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
    parts = ["all", "plan", "memory", "strategies", "classifier", "evotorch", "orchestration", "memory-one"]
    parser.add_argument("part", nargs="?", choices=parts, default="all")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--population", type=int, default=256)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--prefect-database-url",
        default=None,
        help="orchestration: a temporary Prefect server on this database, e.g. "
        "postgresql+asyncpg://hyperfunc:hyperfunc@127.0.0.1:5432/prefect_bench (default: SQLite)",
    )
    args = parser.parse_args()
    if args.part == "memory-one":
        memory_one(args.population, args.examples)
        return 0
    if args.prefect_database_url:  # read by Prefect at import, so set before anything imports it
        os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = args.prefect_database_url
    device = torch.device(args.device)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    ok = True
    if args.part in ("all", "plan"):
        ok &= plan(device, args.population, args.examples, min(args.steps, 20))
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.part in ("all", "memory"):
        ok &= memory([64, 256, 1024, 4096], 10_000)
    if args.part in ("all", "strategies"):
        ok &= strategies(10, 32, 300, args.seeds)
    if args.part in ("all", "classifier"):
        ok &= classifier(args.population, 1000, 0.9, 400)
    if args.part in ("all", "evotorch"):
        ok &= evotorch_comparison(args.population, args.examples, args.steps, device)
    if args.part in ("all", "orchestration"):
        ok &= orchestration(args.repeats)
    print("\nall targets met" if ok else "\nsome targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
