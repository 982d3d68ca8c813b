"""Tuning benchmark: search quality, ask cost and pruning against Optuna, and the flow's overhead.

    .venv/bin/python benchmarks/tuning.py              # every part, the issue's settings
    .venv/bin/python benchmarks/tuning.py quality --seeds 10 --trials 100 --problems mixed,levy5
    .venv/bin/python benchmarks/tuning.py ask_cost
    .venv/bin/python benchmarks/tuning.py pruning --seeds 10 --trials 60
    .venv/bin/python benchmarks/tuning.py overhead --trials 300

Optuna is the baseline and is installed only for this script (``scripts/setup.sh --bench``).
Every figure is measured in the same run as its baseline and printed beside it.

Quality: the median gap to the optimum after N trials over seeds on Branin, Hartmann6, Levy 5-D
(multimodal) and a mixed log-float/log-int/int/categorical problem; ``bayesian`` against Optuna's
``GPSampler`` and ``TPESampler``, ``random`` against ``RandomSampler``, with CPU ms per trial.
Our sweeps run on the local loop (no Prefect): the flow adds orchestration, not a different
search. Every process runs one BLAS/torch thread, so two workers share two cores fairly.

Ask cost: CPU ms per ask after 100, 300 and 500 trials, ours against ``GPSampler``.

Pruning: a synthetic learning-curve problem (81 reported steps per trial, noisy curves that
cross: a fast learner may end worse), random search with the same points for every pruner; how
many steps each of our pruners and Optuna's needs to find what no pruning finds.

Overhead: a trivial objective, one trial at a time, ms per trial for our strategy loop alone,
the same sweep as a Prefect flow (a warmed-up server, median of repeats), and Optuna's
in-memory and SQLite studies.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BRANIN_OPT = 0.397887
HARTMANN6_OPT = -3.32237
_H_ALPHA = [1.0, 1.2, 3.0, 3.2]
_H_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
_H_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]


def branin(x1: float, x2: float) -> float:
    return (
        (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1)
        + 10
    )


def hartmann6(*x: float) -> float:
    return -sum(
        a * math.exp(-sum(_H_A[i][j] * (x[j] - _H_P[i][j]) ** 2 for j in range(6))) for i, a in enumerate(_H_ALPHA)
    )


def levy(*x: float) -> float:
    """Levy's function: many local minima, 0 at (1, ..., 1)."""
    w = [1 + (v - 1) / 4 for v in x]
    inner = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    return math.sin(math.pi * w[0]) ** 2 + inner + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


OPTIMISER_COST = {"sgd": 1.0, "adam": 0.0, "rmsprop": 0.3, "adagrad": 0.6}


def mixed(p: dict) -> float:
    """A training-like mixed space: log-float lr, log-int units, int layers, a categorical optimiser;
    0 exactly at lr=1e-3, units=64, layers=3, adam."""
    return (
        (math.log10(p["lr"]) + 3) ** 2
        + (math.log2(p["units"]) - 6) ** 2 / 4
        + (p["layers"] - 3) ** 2 / 4
        + OPTIMISER_COST[p["optimizer"]]
    )


# name -> (objective over a params dict, parameters as (kind, *args), optimum)
PROBLEMS = {
    "branin": (
        lambda p: branin(p["x1"], p["x2"]),
        {"x1": ("float", -5.0, 10.0), "x2": ("float", 0.0, 15.0)},
        BRANIN_OPT,
    ),
    "hartmann6": (
        lambda p: hartmann6(*(p[f"x{i}"] for i in range(6))),
        {f"x{i}": ("float", 0.0, 1.0) for i in range(6)},
        HARTMANN6_OPT,
    ),
    "levy5": (
        lambda p: levy(*(p[f"x{i}"] for i in range(5))),
        {f"x{i}": ("float", -10.0, 10.0) for i in range(5)},
        0.0,
    ),
    "mixed": (
        mixed,
        {
            "lr": ("logfloat", 1e-5, 1e-1),
            "units": ("logint", 8, 512),
            "layers": ("int", 1, 8),
            "optimizer": ("choice", list(OPTIMISER_COST)),
        },
        0.0,
    ),
}


def our_space(params: dict) -> dict:
    from hyperfunc_core import Choice, Float, Int

    made = {
        "float": lambda lo, hi: Float(lo, hi),
        "logfloat": lambda lo, hi: Float(lo, hi, log=True),
        "int": lambda lo, hi: Int(lo, hi),
        "logint": lambda lo, hi: Int(lo, hi, log=True),
        "choice": Choice,
    }
    return {name: made[kind](*args) for name, (kind, *args) in params.items()}


def optuna_params(trial, params: dict) -> dict:
    suggest = {
        "float": lambda n, lo, hi: trial.suggest_float(n, lo, hi),
        "logfloat": lambda n, lo, hi: trial.suggest_float(n, lo, hi, log=True),
        "int": lambda n, lo, hi: trial.suggest_int(n, lo, hi),
        "logint": lambda n, lo, hi: trial.suggest_int(n, lo, hi, log=True),
        "choice": lambda n, options: trial.suggest_categorical(n, options),
    }
    return {name: suggest[kind](name, *args) for name, (kind, *args) in params.items()}


# -- quality ------------------------------------------------------------------------
def ours_best(problem: str, strategy: str, seed: int, trials: int) -> tuple[float, float]:
    """The best value and the CPU seconds per trial (the strategy's asks, tells and our loop)."""
    from hyperfunc_core import tune

    fn, params, _ = PROBLEMS[problem]
    started = time.process_time()
    result = tune(
        lambda ctx, **p: fn(p),
        our_space(params),
        strategy=strategy,
        mode="min",
        max_trials=trials,
        seed=seed,
        orchestrate=False,
    )
    return result["best"]["value"], (time.process_time() - started) / trials


def optuna_best(problem: str, sampler: str, seed: int, trials: int) -> tuple[float, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    fn, params, _ = PROBLEMS[problem]
    made = {"tpe": optuna.samplers.TPESampler, "gp": optuna.samplers.GPSampler, "random": optuna.samplers.RandomSampler}
    study = optuna.create_study(direction="minimize", sampler=made[sampler](seed=seed))
    started = time.process_time()
    study.optimize(lambda t: fn(optuna_params(t, params)), n_trials=trials)
    return study.best_value, (time.process_time() - started) / trials


def _one(job: tuple) -> tuple:
    kind, problem, name, seed, trials = job
    best = ours_best(problem, name, seed, trials) if kind == "ours" else optuna_best(problem, name, seed, trials)
    return job, best


SAMPLERS = [("ours", "bayesian"), ("optuna", "gp"), ("optuna", "tpe"), ("ours", "random"), ("optuna", "random")]


def quality(seeds: int, trials: int, workers: int, problems: list[str]) -> bool:
    """Median best gap to the optimum after ``trials`` trials, and CPU ms per trial, per sampler."""
    jobs = [
        (kind, problem, name, seed, trials) for problem in problems for kind, name in SAMPLERS for seed in range(seeds)
    ]
    started = time.perf_counter()
    found: dict[tuple, list[tuple[float, float]]] = {}
    # One thread per process for every library, so two workers share the 2 cores fairly.
    with ProcessPoolExecutor(workers, initializer=_one_thread) as pool:
        for (kind, problem, name, _seed, _), outcome in pool.map(_one, jobs):
            found.setdefault((kind, problem, name), []).append(outcome)
    print(
        f"\nQuality: median gap to the optimum after {trials} trials over {seeds} seeds (minimising; lower is "
        f"better), and CPU ms per trial  [{time.perf_counter() - started:.0f} s]"
    )
    print("p: one-sided Mann-Whitney U test that bayesian's gaps are larger than the better Optuna sampler's")
    from scipy.stats import mannwhitneyu

    ok = True
    for problem in problems:
        optimum = PROBLEMS[problem][2]
        gaps = {(kind, name): [best - optimum for best, _ in found[(kind, problem, name)]] for kind, name in SAMPLERS}
        cost = {key: statistics.median(ms for _, ms in found[(key[0], problem, key[1])]) * 1000 for key in gaps}
        row = "  ".join(
            f"{kind[:6]} {name:<8} {statistics.median(g):>9.3g} ({cost[(kind, name)]:>5.0f} ms)"
            for (kind, name), g in gaps.items()
        )
        better = min([("optuna", "gp"), ("optuna", "tpe")], key=lambda k: statistics.median(gaps[k]))
        mine, theirs = gaps[("ours", "bayesian")], gaps[better]
        p = mannwhitneyu(mine, theirs, alternative="greater").pvalue if mine != theirs else 1.0
        good = statistics.median(mine) <= statistics.median(theirs)
        ok &= good
        verdict = "at least as good" if good else ("worse median, not significant" if p >= 0.05 else "WORSE")
        print(f"{problem:<10} {row}\n{'':<10} bayesian vs optuna {better[1]}: p={p:.3f} -> {verdict}")
    return ok


def _one_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


# -- ask cost ---------------------------------------------------------------------
def _ask_cost(job: tuple) -> tuple:
    """CPU ms per ask (mean and slowest of ``asks``) after ``n`` random trials of Hartmann6."""
    kind, n, asks = job
    fn, params, _ = PROBLEMS["hartmann6"]
    rng = __import__("numpy").random.default_rng(n)
    points = [{name: float(rng.uniform(lo, hi)) for name, (_, lo, hi) in params.items()} for _ in range(n)]
    times = []
    if kind == "ours":
        from hyperfunc_core.tuning.space import Space
        from hyperfunc_core.tuning.strategies import BayesianSearch
        from hyperfunc_core.tuning.strategies.base import TrialRecord

        strategy = BayesianSearch(Space(our_space(params)), mode="min", seed=0)
        strategy._asked = strategy.n_startup  # past the start-up design: every ask uses the model
        for i, point in enumerate(points):
            strategy.tell(TrialRecord(i, f"t{i}", point, "complete", value=fn(point)))
        for i in range(asks):
            started = time.process_time()
            suggestion = strategy.ask()
            times.append(time.process_time() - started)
            strategy.tell(TrialRecord(n + i, f"a{i}", suggestion.params, "complete", value=fn(suggestion.params)))
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.GPSampler(seed=0))
        dist = {name: optuna.distributions.FloatDistribution(lo, hi) for name, (_, lo, hi) in params.items()}
        study.add_trials([optuna.trial.create_trial(params=p, distributions=dist, value=fn(p)) for p in points])
        for _ in range(asks):
            started = time.process_time()
            trial = study.ask(dist)
            times.append(time.process_time() - started)
            study.tell(trial, fn(trial.params))
    return job, (1000 * statistics.mean(times), 1000 * max(times))


def ask_cost(sizes: list[int], asks: int, workers: int) -> bool:
    jobs = [(kind, n, asks) for n in sizes for kind in ("ours", "optuna")]
    with ProcessPoolExecutor(workers, initializer=_one_thread) as pool:
        costs = dict(pool.map(_ask_cost, jobs))
    print(f"\nAsk cost: CPU ms per ask on Hartmann6 after n trials, mean (slowest) of {asks} asks, one BLAS thread")
    print(f"{'n':>5}  {'bayesian':>18}  {'optuna GPSampler':>18}  ratio")
    ok = True
    for n in sizes:
        (mine, mine_max), (theirs, theirs_max) = costs[("ours", n, asks)], costs[("optuna", n, asks)]
        ok &= mine <= theirs
        print(f"{n:>5}  {mine:>8.0f} ({mine_max:>6.0f})  {theirs:>8.0f} ({theirs_max:>6.0f})  {mine / theirs:.2f}")
    return ok


# -- pruning ------------------------------------------------------------------------
CURVE_STEPS = 81


def learning_curve_loss(lr: float, width: int, step: int) -> float:
    """Validation loss after ``step`` epochs: a final loss set by lr and width, reached at a speed set by
    lr alone, plus noise fixed by the point and the step (so every pruner sees the same curves)."""
    final = 0.1 + 0.08 * (math.log10(lr) + 2.0) ** 2 + 0.6 / math.sqrt(width)
    speed = 0.8 + 0.2 * min(1.0, 25 * lr)  # a large lr learns faster, and may stop worse
    noise = 0.01 * math.sin(1e4 * lr + 37 * width + 11 * step)
    return final + (2.0 - final) * math.exp(-speed * step / 8) + noise


def _curve_objective(ctx, lr: float, width: int) -> float:
    for step in range(CURVE_STEPS):
        ctx.report(step, val_loss=learning_curve_loss(lr, width, step))
        if ctx.should_stop():
            break
    return learning_curve_loss(lr, width, step)


OUR_PRUNERS = {
    "none": None,
    "median": ("median", None),
    "percentile (25 %)": ("percentile", None),
    "asha": ("asha", None),
    "successive_halving": ("successive_halving", None),
    "hyperband": ("hyperband", {"max_resource": CURVE_STEPS - 1}),
}
OPTUNA_PRUNERS = ("NopPruner", "MedianPruner", "PercentilePruner", "SuccessiveHalvingPruner", "HyperbandPruner")


def _progress(bests: list[float | None], steps: list[int]) -> list[tuple[int, float]]:
    """(steps spent so far, best final loss so far) after each trial, in the order trials ran."""
    out, spent, best = [], 0, math.inf
    for value, used in zip(bests, steps):
        spent += used
        best = min(best, value) if value is not None else best
        out.append((spent, best))
    return out


def _pruning_ours(name: str, seed: int, trials: int) -> list[tuple[int, float]]:
    from hyperfunc_core import Float, Int
    from hyperfunc_core.launch import run_sweep
    from hyperfunc_core.tuning.sweep import prepare_sweep

    chosen = OUR_PRUNERS[name]
    sweep = prepare_sweep(
        _curve_objective,
        {"lr": Float(1e-4, 1.0, log=True), "width": Int(8, 256, log=True)},
        strategy="random",
        max_trials=trials,
        metric="score",
        mode="min",
        early_stopping=chosen and chosen[0],
        early_stopping_kwargs={"metric": "val_loss", "mode": "min", **((chosen and chosen[1]) or {})}
        if chosen
        else None,
        seed=seed,
    )
    run_sweep(sweep, orchestrate=False)
    trials_run = sorted(sweep.setup.store.trials(), key=lambda t: t.number)
    reports = sweep.setup.store.reports()
    return _progress(
        [t.value if t.state == "complete" else None for t in trials_run], [len(reports[t.trial_id]) for t in trials_run]
    )


def _pruning_optuna(name: str, seed: int, trials: int) -> list[tuple[int, float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    made = {
        "PercentilePruner": lambda: optuna.pruners.PercentilePruner(25.0),
        "HyperbandPruner": lambda: optuna.pruners.HyperbandPruner(max_resource=CURVE_STEPS - 1),
    }.get(name, getattr(optuna.pruners, name))()
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=seed), pruner=made)

    def objective(trial) -> float:
        lr, width = trial.suggest_float("lr", 1e-4, 1.0, log=True), trial.suggest_int("width", 8, 256, log=True)
        for step in range(CURVE_STEPS):
            trial.report(learning_curve_loss(lr, width, step), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return learning_curve_loss(lr, width, CURVE_STEPS - 1)

    study.optimize(objective, n_trials=trials)
    done = optuna.trial.TrialState.COMPLETE
    return _progress(
        [t.value if t.state == done else None for t in study.trials], [len(t.intermediate_values) for t in study.trials]
    )


def _pruning_one(job: tuple) -> tuple:
    kind, name, seed, trials = job
    return job, (_pruning_ours if kind == "ours" else _pruning_optuna)(name, seed, trials)


def _steps_to(progress: list[tuple[int, float]], target: float) -> float:
    """Steps spent when the best so far first came within 0.005 of ``target`` (inf if it never did)."""
    return next((spent for spent, best in progress if best <= target + 0.005), math.inf)


def pruning(seeds: int, trials: int, workers: int) -> bool:
    """Each library's no-pruning sweep of ``trials`` sets the target (its best); pruned sweeps of the same
    points, in the same order, go on to 8x as many trials: how many steps does each need to reach it?"""
    longer = 8 * trials
    jobs = [
        ("ours", name, seed, trials if chosen is None else longer)
        for name, chosen in OUR_PRUNERS.items()
        for seed in range(seeds)
    ]
    jobs += [
        ("optuna", name, seed, trials if name == "NopPruner" else longer)
        for name in OPTUNA_PRUNERS
        for seed in range(seeds)
    ]
    started = time.perf_counter()
    runs: dict[tuple, dict[int, list]] = {}
    with ProcessPoolExecutor(workers) as pool:
        for (kind, name, seed, _), progress in pool.map(_pruning_one, jobs):
            runs.setdefault((kind, name), {})[seed] = progress
    print(
        f"\nPruning: learning curves of {CURVE_STEPS} steps, random search; target: the best final loss "
        f"that {trials} trials without pruning find; pruned sweeps of the same points may run {longer} trials; "
        f"{seeds} seeds, medians  [{time.perf_counter() - started:.0f} s]"
    )
    print(
        f"{'pruner':<38} {'steps to the target':>19} {'reached':>8} "
        f"{'best at the same steps':>23} {'trials run then':>16}"
    )
    medians: dict[tuple, float] = {}
    for (kind, name), by_seed in runs.items():
        baseline = runs[(kind, "none" if kind == "ours" else "NopPruner")]
        targets = {seed: progress[-1][1] for seed, progress in baseline.items()}
        full = {seed: progress[-1][0] for seed, progress in baseline.items()}
        to_target = [_steps_to(progress, targets[seed]) for seed, progress in by_seed.items()]
        at_budget = [
            [(i + 1, best) for i, (spent, best) in enumerate(progress) if spent <= full[seed]][-1]
            for seed, progress in by_seed.items()
        ]
        medians[(kind, name)] = statistics.median(to_target)
        reached = sum(math.isfinite(v) for v in to_target)
        label = f"{'hyperfunc' if kind == 'ours' else 'optuna'} {name}"
        print(
            f"{label:<38} {medians[(kind, name)]:>19.0f} {reached:>5}/{seeds} "
            f"{statistics.median(b for _, b in at_budget):>23.4f} {statistics.median(n for n, _ in at_budget):>16.0f}"
        )
    ok = True
    for name in ("asha", "successive_halving", "hyperband"):
        mine = medians[("ours", name)]
        better = mine < medians[("ours", "none")] and mine < medians[("ours", "median")]
        ok &= better
        print(
            f"  {name}: {mine:.0f} steps to the target, against {medians[('ours', 'none')]:.0f} without pruning and "
            f"{medians[('ours', 'median')]:.0f} with median -> {'fewer than both' if better else 'NOT fewer than both'}"
        )
    return ok


# -- overhead -----------------------------------------------------------------------
def _trivial(ctx, x: float) -> float:
    return x


def overhead(trials: int, repeats: int) -> bool:
    import optuna

    from hyperfunc_core import Float
    from hyperfunc_core.launch import run_sweep
    from hyperfunc_core.tuning.sweep import prepare_sweep

    def inline(sweep) -> dict:
        return run_sweep(sweep, orchestrate=False)

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = {"x": Float(0.0, 1.0)}

    def ours(runner) -> float:
        sweep = prepare_sweep(_trivial, space, strategy="random", max_trials=trials, seed=0)
        start = time.perf_counter()
        runner(sweep)
        return 1000 * (time.perf_counter() - start) / trials

    def theirs(storage: str | None) -> float:
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
        start = time.perf_counter()
        study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=trials)
        return 1000 * (time.perf_counter() - start) / trials

    run_sweep(prepare_sweep(_trivial, space, max_trials=3))  # start the server, import the engine
    with tempfile.TemporaryDirectory() as tmp:
        rows = {
            "hyperfunc loop, no Prefect": [ours(inline) for _ in range(repeats)],
            "hyperfunc tune() as a Prefect flow": [ours(run_sweep) for _ in range(repeats)],
            "Optuna, in memory": [theirs(None) for _ in range(repeats)],
            "Optuna, SQLite": [theirs(f"sqlite:///{tmp}/optuna-{i}.db") for i in range(repeats)],
        }
    import prefect.settings

    url = prefect.settings.get_current_settings().server.database.connection_url
    backend = url.get_secret_value() if url is not None else None
    print(
        f"\nOverhead: ms per trial, trivial objective, random search, one trial at a time, {trials} trials, "
        f"median of {repeats}; Prefect server database: {str(backend).split('://')[0] if backend else 'sqlite'}"
    )
    flow_ms = statistics.median(rows["hyperfunc tune() as a Prefect flow"])
    for name, values in rows.items():
        ms = statistics.median(values)
        print(f"  {name:<36} {ms:>8.2f} ms   ({ms / flow_ms:.2f}x the flow)")
    ok = flow_ms <= 15.0
    print(f"  target: the flow at most 15 ms per trial -> {flow_ms:.2f} ms, {'met' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", choices=["all", "quality", "ask_cost", "overhead", "pruning"], default="all")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--problems", default=",".join(PROBLEMS), help="quality: comma-separated, of " + ", ".join(PROBLEMS)
    )
    parser.add_argument("--trials", type=int, default=None, help="trials per sweep (100 for quality, 300 for overhead)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--prefect-database-url",
        default=None,
        help="run the flow against a temporary Prefect server on this database, e.g. "
        "postgresql+asyncpg://hyperfunc:hyperfunc@127.0.0.1:5432/prefect_bench (default: SQLite)",
    )
    args = parser.parse_args()
    if args.prefect_database_url:  # read by Prefect at import, so set before anything imports it
        os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = args.prefect_database_url
    ok = True
    if args.part in ("all", "quality"):
        ok &= quality(args.seeds, args.trials or 100, args.workers, args.problems.split(","))
    if args.part in ("all", "ask_cost"):
        ok &= ask_cost([100, 300, 500], 12, args.workers)
    if args.part in ("all", "pruning"):
        ok &= pruning(min(args.seeds, 10), args.trials or 60, args.workers)
    if args.part in ("all", "overhead"):
        ok &= overhead(args.trials or 300, args.repeats)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
