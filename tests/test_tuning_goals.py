"""Several objectives (a Pareto front) and constraints, through the real sweep loop."""

from __future__ import annotations

import pytest

from hyperfunc_core import Choice, Float, ObjectiveResult
from hyperfunc_core.launch import run_sweep
from hyperfunc_core.reports import sweep_report
from hyperfunc_core.tuning.goals import Goals
from hyperfunc_core.tuning.sweep import prepare_sweep
from hyperfunc_core.validation import InvalidInput


def run(objective, space, **kw):
    return run_sweep(prepare_sweep(objective, space, **kw), orchestrate=False)


def tradeoff(ctx, x, y):
    """Accuracy against latency: a larger x is more accurate and slower; y only costs."""
    return ObjectiveResult(score=0.0, metrics={"error": (1 - x) ** 2 + y, "latency": x**2 + y, "memory_over": x - 0.8})


SPACE = {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": ["a", "b"], "mode": ["min"]}, "mode: expected 'max', 'min' or one of them per metric \\(2\\)"),
        ({"metric": ["a", "a"]}, "metric: names a metric twice"),
        ({"metric": ["a", ""]}, "metric: expected a metric name or a list of them"),
        ({"metric": "a", "mode": "lowest"}, "mode: expected 'max' or 'min', got 'lowest'"),
        ({"metric": ["a", "b"], "constraints": ["b"]}, "constraints: \\['b'\\] are objectives too"),
    ],
)
def test_bad_goals_fail_naming_the_option(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        Goals.parse(kwargs["metric"], kwargs.get("mode", "max"), kwargs.get("constraints"))


def test_a_strategy_that_learns_one_value_is_refused_for_several():
    with pytest.raises(
        InvalidInput, match="strategy: 'bayesian' optimizes one metric; for several \\(error, latency\\)"
    ):
        prepare_sweep(tradeoff, SPACE, strategy="bayesian", metric=["error", "latency"], mode="min")


def test_random_search_returns_the_pareto_front_and_draws_it(tmp_path):
    result = run(tradeoff, SPACE, strategy="random", metric=["error", "latency"], mode="min", max_trials=40, seed=2)
    front = result["pareto"]
    complete = [t for t in result["trials"] if t["state"] == "complete"]
    assert 2 <= len(front) < len(complete) and result["best"]["trial_id"] == front[0]["trial_id"]
    values = [t["info"]["values"] for t in front]
    assert values == sorted(values) and values[0] == [front[0]["metrics"]["error"], front[0]["metrics"]["latency"]]

    def beats(a, b):
        return all(p <= q for p, q in zip(a, b)) and a != b

    on_front = {t["trial_id"] for t in front}
    for t in complete:  # the front beats everything else, and nothing beats the front
        mine = t["info"]["values"]
        assert (t["trial_id"] in on_front) != any(beats(f, mine) for f in values)
    report = sweep_report(result, tmp_path / "report")
    assert (tmp_path / "report" / "pareto.png").stat().st_size > 10_000
    assert f"| Pareto front | {len(front)} trials on error, latency |" in report.markdown


def test_constraints_keep_infeasible_trials_out_of_the_best_and_the_front():
    single = run(tradeoff, SPACE, strategy="bayesian", metric="error", mode="min", constraints=["memory_over"], seed=0)
    assert single["best"]["params"]["x"] <= 0.8 and single["infeasible"] >= 1
    broke = [t for t in single["trials"] if t["info"].get("feasible") is False]
    assert broke and all(t["info"]["constraints"]["memory_over"] > 0 for t in broke)
    several = run(
        tradeoff,
        SPACE,
        strategy="random",
        metric=["error", "latency"],
        mode=["min", "min"],
        constraints=["memory_over"],
        max_trials=30,
        seed=1,
    )
    assert all(t["params"]["x"] <= 0.8 for t in several["pareto"]) and several["infeasible"] >= 1
    missing = run(tradeoff, SPACE, max_trials=2, metric="error", mode="min", constraints=["gpu_over"])
    assert missing["counts"] == {"failed": 2} and "gpu_over" in missing["trials"][0]["error"]


def test_optuna_nsgaii_and_constrained_tpe_search_several_objectives(tmp_path):
    pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    options = dict(
        metric=["error", "latency"],
        mode=["min", "min"],
        constraints=["memory_over"],
        storage=storage,
        study_name="front",
        seed=0,
    )
    sweep = prepare_sweep(tradeoff, SPACE, strategy="optuna:nsgaii", max_trials=20, **options)
    result = run_sweep(sweep, orchestrate=False)
    assert result["counts"] == {"complete": 20} and len(result["pareto"]) >= 2
    assert all(t["params"]["x"] <= 0.8 for t in result["pareto"])
    assert [len(t.values) for t in sweep.setup.strategy.study.trials] == [2] * 20  # Optuna was told both
    resumed = prepare_sweep(tradeoff, SPACE, strategy="optuna:nsgaii", max_trials=24, **options)
    replayed = resumed.setup.strategy.study.trials  # rebuilt from storage, constraints included
    assert (
        resumed.replayed == 20
        and len(replayed) == 20
        and all("constraints:memory_over" in t.system_attrs for t in replayed)
    )
    from hyperfunc_core.tuning.sweep import reopen_sweep

    again = reopen_sweep("front", storage, add_trials=2)  # a retried or scheduled run: the goals come back
    assert again.setup.goals == resumed.setup.goals and again.setup.goals.constraints == ("memory_over",)
    with pytest.raises(InvalidInput, match="exists with metric='error,latency'"):
        prepare_sweep(tradeoff, SPACE, strategy="optuna:nsgaii", **{**options, "metric": "error", "mode": "min"})
    constrained = prepare_sweep(
        tradeoff, SPACE, strategy="optuna:tpe", metric="error", mode="min", constraints=["memory_over"], max_trials=12
    )
    out = run_sweep(constrained, orchestrate=False)
    told = constrained.setup.strategy.study.trials  # as Trial.set_constraint stores them, which TPE reads
    assert [t.system_attrs["constraints:memory_over"] for t in told] == [
        t["info"]["constraints"]["memory_over"] for t in out["trials"]
    ]
    assert out["best"]["params"]["x"] <= 0.8


def test_a_repeated_point_tells_optuna_every_objective_and_constraint_of_the_earlier_trial():
    pytest.importorskip("optuna")
    ran = []

    def counted(ctx, x, y):
        ran.append((x, y))
        return tradeoff(ctx, x, y)

    # Two points only: NSGA-II soon proposes points it already ran, which are answered, never run again.
    sweep = prepare_sweep(
        counted,
        {"x": Choice([0.1, 0.9]), "y": Choice([0.0])},
        strategy="optuna:nsgaii",
        metric=["error", "latency"],
        mode="min",
        constraints=["memory_over"],
        max_trials=6,
        seed=0,
    )
    result = run_sweep(sweep, orchestrate=False)
    assert len(ran) == len(set(ran)) == 2 and any("repeated earlier trials" in n for n in result["notes"])
    told = [t for t in sweep.setup.strategy.study.trials if t.state.name == "COMPLETE"]
    assert len(told) > 2  # the repeats were told to Optuna too: both objectives and the constraint
    assert all(len(t.values) == 2 and "constraints:memory_over" in t.system_attrs for t in told)
