"""Strategies, early stopping and failure paths, on a thread pool without Prefect."""

from __future__ import annotations

import json
import math
import os
import threading
import time

import pytest
from tuning_objectives import branin, quadratic

from hyperfunc_core import Bool, Choice, Float, Int, ObjectiveResult, Strategy, register_strategy
from hyperfunc_core.launch import run_sweep
from hyperfunc_core.testing import text
from hyperfunc_core.tuning.strategies import Suggestion
from hyperfunc_core.tuning.sweep import prepare_sweep


def run(objective, space, **kw):
    return run_sweep(prepare_sweep(objective, space, **kw), orchestrate=False)


def test_random_search_respects_max_trials_and_bounds():
    result = run(
        quadratic, {"x": Float(-3, 3), "y": Float(0, 4)}, strategy="random", max_trials=12, max_concurrent=3, seed=1
    )
    assert len(result["trials"]) == 12 and result["counts"] == {"complete": 12}
    assert all(-3 <= t["params"]["x"] <= 3 for t in result["trials"])
    best = result["best"]
    assert set(best) >= {"trial_id", "params", "score", "metrics"}
    assert best["score"] == max(t["score"] for t in result["trials"])


def test_grid_runs_every_combination_once():
    space = {"x": Choice([0.0, 1.0, 2.0]), "y": Choice([1.0, 2.0, 3.0]), "flag": Bool()}
    result = run(lambda ctx, x, y, flag: x + y + flag, space, strategy="grid", max_concurrent=4)
    combos = {(t["params"]["x"], t["params"]["y"], t["params"]["flag"]) for t in result["trials"]}
    assert len(result["trials"]) == 18 and len(combos) == 18
    assert result["best"]["params"] == {"x": 2.0, "y": 3.0, "flag": True}


def test_grid_over_a_float_takes_resolution_points_per_axis():
    with pytest.raises(ValueError, match="resolution.*expected an integer >= 2, got 1"):
        prepare_sweep(quadratic, {"x": Float(0, 1)}, strategy="grid", strategy_kwargs={"resolution": 1})
    result = run(quadratic, {"x": Float(0, 2)}, strategy="grid", strategy_kwargs={"resolution": 5})
    assert sorted(t["params"]["x"] for t in result["trials"]) == [0.0, 0.5, 1.0, 1.5, 2.0]


def test_beam_search_expands_the_best_parents_depth_by_depth():
    result = run(
        quadratic,
        {"x": Float(-5, 5), "y": Float(-5, 5)},
        strategy="beam_search",
        strategy_kwargs={"K": 2, "width": 3, "max_depth": 3},
        max_concurrent=3,
        seed=3,
    )
    trials = result["trials"]
    assert len(trials) == 6 + 3 * 6  # roots K*width, then K*width per depth
    by_id = {t["trial_id"]: t for t in trials}
    for depth in (1, 2, 3):
        level = [t for t in trials if t["info"]["depth"] == depth]
        previous = sorted((t for t in trials if t["info"]["depth"] == depth - 1), key=lambda t: -t["value"])
        parents = {t["info"]["parent"] for t in level}
        assert parents <= {t["trial_id"] for t in previous[:2]}
        assert all(by_id[t["info"]["parent"]]["info"]["depth"] == depth - 1 for t in level)
    depth0 = max(t["value"] for t in trials if t["info"]["depth"] == 0)
    assert result["best"]["score"] >= depth0


def test_bayesian_beats_random_on_branin():
    space = {"x1": Float(-5, 10), "x2": Float(0, 15)}
    bayes = [
        run(branin, space, strategy="bayesian", mode="min", max_trials=40, seed=s)["best"]["value"] for s in range(3)
    ]
    rand = [run(branin, space, strategy="random", mode="min", max_trials=40, seed=s)["best"]["value"] for s in range(3)]
    assert sorted(bayes)[1] < 0.45  # the optimum is 0.397887
    assert sorted(bayes)[1] < sorted(rand)[1]


def test_bayesian_handles_mixed_spaces_and_concurrency():
    def objective(ctx, lr, layers, opt, bn):
        return -abs(math.log10(lr) + 2) - abs(layers - 3) + (opt == "adam") + 0.5 * bn

    space = {"lr": Float(1e-4, 1e-1, log=True), "layers": Int(1, 6), "opt": Choice(["adam", "sgd"]), "bn": Bool()}
    result = run(objective, space, strategy="bayesian", max_trials=30, max_concurrent=3, seed=0)
    assert result["counts"] == {"complete": 30}
    startup = [t["value"] for t in result["trials"] if t["info"]["model"] == "sobol-startup"]
    assert len(startup) == 8 and result["best"]["score"] > max(startup)  # the model improved on its design
    assert all(
        isinstance(t["params"]["layers"], int) and t["params"]["opt"] in ("adam", "sgd") for t in result["trials"]
    )


class Ladder(Strategy):
    """A user's strategy: walks x up by `step`."""

    name = "ladder"

    def __init__(self, space, *, step: float = 0.5, **kw):
        super().__init__(space, **kw)
        self.step, self.x = step, -2.0

    def ask(self):
        self.x += self.step
        return Suggestion({"x": self.x}, info={"source": "ladder"})


def test_custom_strategy_class_and_registered_name():
    result = run(quadratic, {"x": Float(-3, 3)}, strategy=Ladder, strategy_kwargs={"step": 1.0}, max_trials=4)
    assert [t["params"]["x"] for t in result["trials"]] == [-1.0, 0.0, 1.0, 2.0]
    register_strategy("custom_strategy", Ladder)
    result = run(
        quadratic, {"x": Float(-3, 3)}, strategy="custom_strategy", strategy_kwargs={"step": 0.25}, max_trials=2
    )
    assert [t["params"]["x"] for t in result["trials"]] == [-1.75, -1.5]
    with pytest.raises(ValueError, match="strategy_kwargs for 'ladder'.*bogus"):
        prepare_sweep(quadratic, {"x": Float(-3, 3)}, strategy=Ladder, strategy_kwargs={"bogus": 1})
    with pytest.raises(ValueError, match="unknown name 'nope'"):
        prepare_sweep(quadratic, {"x": Float(-3, 3)}, strategy="nope")


def test_bad_arguments_fail_before_any_trial():
    calls = []
    objective = lambda ctx, x: calls.append(x) or 0.0
    for kwargs, message in [
        ({"mode": "best"}, "mode"),
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"executor": "gpu"}, "executor"),
        ({"max_trials": -1}, "max_trials"),
        ({"early_stopping": "sometimes"}, "early_stopping"),
        ({"storage": 42}, "storage"),
        ({"max_time_s": 0}, "max_time_s"),
    ]:
        with pytest.raises(ValueError, match=message):
            prepare_sweep(objective, {"x": Float(0, 1)}, **kwargs)
    lock = threading.Lock()
    with pytest.raises(ValueError, match="executor='process' needs a function cloudpickle can ship"):
        prepare_sweep(lambda ctx, x: lock.locked() or x, {"x": Float(0, 1)}, executor="process")
    assert calls == []


def test_failures_are_recorded_and_the_sweep_goes_on():
    def objective(ctx, x):
        if x < 0.25:
            raise RuntimeError("diverged")
        if x < 0.5:
            return float("nan")
        if x < 0.75:
            import time

            time.sleep(2)
        return x

    result = run(objective, {"x": Choice([0.1, 0.3, 0.6, 0.9])}, strategy="grid", trial_timeout_s=0.5, max_concurrent=2)
    by_x = {t["params"]["x"]: t for t in result["trials"]}
    assert by_x[0.1]["state"] == "failed" and "RuntimeError: diverged" in by_x[0.1]["error"]
    assert by_x[0.3]["state"] == "failed" and "NaN" in by_x[0.3]["error"]
    assert by_x[0.6]["state"] == "failed" and "overran its 0.5 s limit" in by_x[0.6]["error"]
    assert by_x[0.9]["state"] == "complete" and result["best"]["params"] == {"x": 0.9}


@pytest.mark.parametrize("strategy", ["random", "bayesian"])
def test_non_finite_values_are_failed_trials_and_the_strategy_keeps_working(strategy):
    def objective(ctx, x):
        if x > 0.8:
            return math.inf  # "infinitely good": a broken objective, never the best
        if x < 0.1:
            return -math.inf
        return -((x - 0.5) ** 2)

    result = run(objective, {"x": Float(0.0, 1.0)}, strategy=strategy, max_trials=30, seed=3)
    failed = [t for t in result["trials"] if t["state"] == "failed"]
    assert failed and all("non-finite value" in t["error"] for t in failed)
    assert {t["info"]["non_finite_value"] for t in failed} <= {"inf", "-inf"}
    assert len(result["trials"]) == 30 and math.isfinite(result["best"]["value"])
    assert 0.1 <= result["best"]["params"]["x"] <= 0.8


def test_metric_and_mode_pick_the_best():
    def objective(ctx, x):
        return ObjectiveResult(score=x, metrics={"loss": (x - 0.3) ** 2})

    result = run(objective, {"x": Choice([0.1, 0.3, 0.9])}, strategy="grid", metric="loss", mode="min")
    assert result["best"]["params"] == {"x": 0.3} and result["best"]["value"] == 0.0
    missing = run(objective, {"x": Choice([0.1])}, strategy="grid", metric="f1_score")
    assert missing["trials"][0]["state"] == "failed" and "f1_score" in missing["trials"][0]["error"]


def test_a_policy_that_never_sees_its_metric_says_so_and_prunes_nothing():
    def objective(ctx, x):
        for step in range(6):
            ctx.report(step=step, val_loss=x * (6 - step))
        return -x

    sweep = prepare_sweep(objective, {"x": Float(0, 1)}, max_trials=8, early_stopping="aggressive", seed=0)
    result = run_sweep(sweep, orchestrate=False)
    stopping = result["early_stopping"]
    assert stopping["pruned"] == 0 and result["counts"] == {"complete": 8}
    assert stopping["blind"] and "cannot see 'score'" in stopping["blind"]
    watching = prepare_sweep(
        objective,
        {"x": Float(0, 1)},
        max_trials=8,
        early_stopping="aggressive",
        early_stopping_kwargs={"metric": "val_loss", "mode": "min"},
        seed=0,
    )
    watched = run_sweep(watching, orchestrate=False)
    assert watched["early_stopping"]["blind"] is None and watched["early_stopping"]["pruned"] >= 1


def test_early_stopping_prunes_laggards_with_their_reports():
    def objective(ctx, quality):
        for step in range(50):
            ctx.report(step=step, val_loss=1.0 / (1 + step * quality))
            if ctx.should_stop():
                break
        return ObjectiveResult(score=quality, metrics={"steps": step + 1})

    sweep = prepare_sweep(
        objective,
        {"quality": Choice([1.0, 0.9, 0.8, 0.01, 0.02])},
        strategy="grid",
        early_stopping="aggressive",
        early_stopping_kwargs={"check_interval": 10, "min_trials": 3},
        metric="val_loss",
        mode="min",
        max_concurrent=1,
    )
    result = run_sweep(sweep, orchestrate=False)
    by_q = {t["params"]["quality"]: t for t in result["trials"]}
    assert all(by_q[q]["state"] == "complete" for q in (1.0, 0.9, 0.8))
    assert by_q[0.01]["state"] == "pruned" and by_q[0.01]["metrics"]["steps"] == 10
    assert by_q[0.01]["info"]["pruned_by"] == "early stopping policy"
    assert len(sweep.setup.store.reports()[by_q[0.01]["trial_id"]]) == 10
    assert result["best"]["params"]["quality"] == 1.0


def test_beam_prune_kills_branches_behind_the_beam():
    def objective(ctx, x):
        for step in range(5):
            ctx.report(step=step, score=x)
            if ctx.should_stop():
                break
        return x

    result = run(
        objective,
        {"x": Float(0, 1)},
        strategy="beam_search",
        max_concurrent=1,
        seed=0,
        strategy_kwargs={"K": 1, "width": 3, "max_depth": 2, "prune": True},
    )
    pruned = [t for t in result["trials"] if t["state"] == "pruned"]
    assert pruned and all(t["info"]["depth"] >= 1 and "beam_search" in t["info"]["pruned_by"] for t in pruned)


def test_process_executor_streams_reports_and_fails_cleanly():
    sweep = prepare_sweep(quadratic, {"x": Choice([0.0, 1.0])}, strategy="grid", executor="process", max_concurrent=2)
    result = run_sweep(sweep, orchestrate=False)
    assert result["counts"] == {"complete": 2} and result["best"]["params"]["x"] == 1.0
    assert all(len(r) == 3 for r in sweep.setup.store.reports().values())


def test_process_executor_ships_lambdas_and_records_a_crashing_process():
    offset = 10.0  # a closure: shipped by value, as a notebook's function would be
    fine = run_sweep(
        prepare_sweep(lambda ctx, x: x + offset, {"x": Choice([1.0, 2.0])}, strategy="grid", executor="process"),
        orchestrate=False,
    )
    assert fine["best"]["score"] == 12.0
    crash = run_sweep(
        prepare_sweep(lambda ctx, x: os._exit(3), {"x": Choice([1.0])}, strategy="grid", executor="process"),
        orchestrate=False,
    )
    assert crash["counts"] == {"failed": 1} and "exited with code 3" in crash["trials"][0]["error"]


def llm_suggestions(llm_server, answers):
    llm_server.push(*[text(a) for a in answers])
    from hyperfunc_core.llm import LLMGateway

    return LLMGateway(
        "openai/gpt-4o-mini", api_base=llm_server.api_base, api_key="k", backoff_base_s=0.01, max_retries=0
    )


def test_llm_agent_uses_validates_and_falls_back(llm_server):
    answers = [
        json.dumps({"params": {"lr": 0.01, "opt": "adam"}, "rationale": "start near the usual default"}),
        "Sure! ```json\n" + json.dumps({"params": {"lr": 5.0, "opt": "SGD"}, "rationale": "try high"}) + "\n```",
        "I think you should use a lower learning rate.",  # garbage: no JSON
        json.dumps({"params": {"lr": 0.001, "opt": "rmsprop"}, "rationale": "rmsprop is not in the space"}),
    ]
    gateway = llm_suggestions(llm_server, answers)
    result = run(
        lambda ctx, lr, opt: -lr,
        {"lr": Float(1e-4, 1e-1, log=True), "opt": Choice(["adam", "sgd"])},
        strategy="llm_agent",
        strategy_kwargs={"llm": gateway, "exploration_rate": 0.0, "max_history": 5},
        max_trials=4,
        seed=0,
    )
    t = result["trials"]
    assert t[0]["params"] == {"lr": 0.01, "opt": "adam"} and t[0]["info"]["rationale"] == "start near the usual default"
    assert t[1]["params"] == {"lr": 0.1, "opt": "sgd"} and any("clipped" in n for n in t[1]["info"]["notes"])
    assert t[2]["info"]["source"] == "fallback" and "no JSON" in t[2]["info"]["fallback_reason"]
    assert t[3]["params"]["lr"] == 0.001 and any("opt" in n and "random" in n for n in t[3]["info"]["notes"])
    prompts = [r.last_user_text for r in llm_server.chat_requests()]
    assert len(prompts) == 4 and "Most recent trials" in prompts[1] and '"lr": 0.01' in prompts[1]


def test_concurrent_llm_asks_see_the_trials_still_running(llm_server):
    answers = [json.dumps({"params": {"x": x}}) for x in (0.1, 0.2, 0.3, 0.4)]
    gateway = llm_suggestions(llm_server, answers)

    def slow(ctx, x):
        time.sleep(0.3)  # the second ask comes while the first trial runs
        return x

    run(
        slow,
        {"x": Float(0, 1)},
        strategy="llm_agent",
        strategy_kwargs={"llm": gateway, "exploration_rate": 0.0},
        max_trials=4,
        max_concurrent=2,
        seed=0,
    )
    prompts = [r.last_user_text for r in llm_server.chat_requests()]
    assert "Running now" not in prompts[0]
    assert "Running now, results pending (propose something else): [{'x': 0.1}]" in prompts[1]


def test_llm_agent_falls_back_when_the_llm_errors(llm_server):
    from hyperfunc_core.testing import error

    llm_server.default = error(500, "down")
    gateway = llm_suggestions(llm_server, [])
    result = run(
        lambda ctx, x: x,
        {"x": Float(0, 1)},
        strategy="llm_agent",
        strategy_kwargs={"llm": gateway, "exploration_rate": 0.0},
        max_trials=3,
        seed=0,
    )
    assert result["counts"] == {"complete": 3}
    assert all(
        t["info"]["source"] == "fallback" and "LLMError" in t["info"]["fallback_reason"] for t in result["trials"]
    )

    from hyperfunc_core.testing import error as fail  # a 429 retried once, then an answer: the trial says so

    llm_server.default = None
    llm_server.push(fail(429, "slow down"), text(json.dumps({"params": {"x": 0.5}})))
    retried = llm_suggestions(llm_server, [])
    retried.max_retries = 2
    again = run(
        lambda ctx, x: x,
        {"x": Float(0, 1)},
        strategy="llm_agent",
        strategy_kwargs={"llm": retried, "exploration_rate": 0.0},
        max_trials=1,
        seed=0,
    )
    assert again["trials"][0]["info"]["source"] == "llm" and again["trials"][0]["info"]["llm_failed_attempts"] == 1


def test_llm_branching_agent_builds_a_tree_from_llm_variations(llm_server):
    def responder(body):
        prompt = body["messages"][-1]["content"]
        if "Lineage" not in prompt:
            return text("nonsense")
        parent = json.loads(prompt.split("root first: ")[1].split("\n")[0])[-1]["params"]
        return text(
            json.dumps(
                {
                    "children": [
                        {"params": {"x": parent["x"] * (0.6 + 0.1 * i)}, "rationale": f"step {i}"} for i in range(2)
                    ]
                }
            )
        )

    llm_server.responder = responder
    gateway = llm_suggestions(llm_server, [])
    result = run(
        lambda ctx, x: x,
        {"x": Float(0, 1)},
        strategy="llm_branching_agent",
        seed=1,
        max_concurrent=2,
        strategy_kwargs={"llm": gateway, "max_depth": 2, "beam_width": 2, "branch_factor": 2, "enable_pruning": False},
    )
    trials = result["trials"]
    assert len(trials) == 4 + 2 * 4
    children = [t for t in trials if t["info"]["depth"] > 0]
    assert all(t["info"]["source"] == "llm" and t["info"]["rationale"].startswith("step") for t in children)
    assert len(llm_server.chat_requests()) == 4  # one call per parent per depth
    llm_server.responder = lambda body: text("no idea")
    garbage = run(
        lambda ctx, x: x,
        {"x": Float(0, 1)},
        strategy="llm_branching_agent",
        seed=1,
        strategy_kwargs={"llm": gateway, "max_depth": 1, "beam_width": 1, "branch_factor": 2},
    )
    assert {t["info"]["source"] for t in garbage["trials"] if t["info"]["depth"] == 1} == {"fallback"}


def test_progress_bar_and_summary_table(capsys):
    result = run(
        quadratic, {"x": Float(-3, 3)}, max_trials=6, study_name="shown", show_progress=True, show_summary=True
    )
    captured = capsys.readouterr()
    out, bar = captured.out, captured.err  # the live bar is on stderr, results on stdout
    assert "study shown: top 6 by score (max)" in out and result["best"]["trial_id"] in out
    assert "6/6 trials" in bar and "failed 0 | pruned 0 | best" in bar


def test_bayesian_acquisition_ascent_survives_non_finite_points():
    """A non-finite point must never reach the GP (its triangular solve raises and the sweep failed; CI saw it)."""
    import numpy as np

    from hyperfunc_core.tuning.space import Space
    from hyperfunc_core.tuning.strategies import BayesianSearch

    strategy = BayesianSearch(Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}), mode="max", seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((8, 2))
    y = -((x - 0.3) ** 2).sum(1)
    strategy.gp.fit(x, (y - y.mean()) / y.std(), rng)
    point = strategy._ascend(np.array([0.5, 0.5]), 0.0)
    assert np.all((point >= 0) & (point <= 1))
    assert strategy._ascend(np.array([np.nan, 0.5]), 0.0) is None  # before: the GP's solve raised on it
    strategy.gp.predict_with_gradient = lambda p: (math.nan, math.nan, np.zeros(2), np.zeros(2))
    assert strategy._ascend(np.array([0.5, 0.5]), 0.0) is None  # nothing finite to offer: the sampled points are used


def test_a_repeated_point_is_answered_from_its_trial_and_never_run_again():
    ran = []

    class Stubborn(Strategy):
        """Proposes x=0.5 four times (twice while it runs), then new points."""

        name = "stubborn"
        asked = 0

        def ask(self):
            self.asked += 1
            return Suggestion({"x": 0.5 if self.asked <= 4 else self.asked / 100})

    def objective(ctx, x):
        ran.append(x)
        time.sleep(0.05)
        return x

    sweep = prepare_sweep(objective, {"x": Float(0, 1)}, strategy=Stubborn, max_trials=4, max_concurrent=2)
    result = run_sweep(sweep, orchestrate=False)
    assert ran.count(0.5) == 1 and len(ran) == len(set(ran)) == 4 == len(result["trials"])
    first = next(t for t in result["trials"] if t["params"]["x"] == 0.5)
    told = [t for t in sweep.setup.strategy.trials if t.info.get("repeat_of") == first["trial_id"]]
    assert len(told) == 3 and all(t.value == 0.5 and t.state == "complete" for t in told)
    assert any("3 proposed points repeated earlier trials" in note for note in result["notes"])
    # A small space used up: random search stops asking instead of running a point twice.
    small = run(lambda ctx, x: x, {"x": Choice([1, 2])}, strategy="random", max_trials=10, seed=0)
    assert sorted(t["params"]["x"] for t in small["trials"]) == [1, 2]
    assert any("so the sweep stopped asking" in note for note in small["notes"])
