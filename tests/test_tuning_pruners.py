"""Pruners: pure decisions over stored reports (unit), and every preset inside a real sweep."""

from __future__ import annotations

import pytest

from hyperfunc_core import Float, ObjectiveResult
from hyperfunc_core.launch import run_sweep
from hyperfunc_core.tuning.pruners import (
    PRESETS,
    HyperbandPruner,
    PercentilePruner,
    StudyReports,
    SuccessiveHalvingPruner,
    blind_text,
    make_pruner,
)
from hyperfunc_core.tuning.strategies.base import TrialRecord
from hyperfunc_core.tuning.sweep import prepare_sweep
from hyperfunc_core.validation import InvalidInput


def curve(values: list[float], metric: str = "val", first_step: int = 0) -> list[dict]:
    return [{metric: v, "step": first_step + i} for i, v in enumerate(values)]


def study(*curves: list[dict], states: list[str] | None = None) -> StudyReports:
    trials = [
        TrialRecord(number=i, trial_id=f"t{i}", params={}, state=(states or [])[i] if states else "complete")
        for i in range(len(curves))
    ]
    return StudyReports(trials, {t.trial_id: c for t, c in zip(trials, curves)})


def me(number: int) -> TrialRecord:
    return TrialRecord(number=number, trial_id="me", params={})


def test_median_compares_best_so_far_with_peers_over_as_many_reports():
    pruner = PercentilePruner(metric="val", mode="max", check_interval=2, min_trials=2)
    others = study(curve([0.5, 0.9]), curve([0.4, 0.8]), curve([0.1]))
    assert pruner.prune(me(3), curve([0.2, 0.3]), others)  # 0.3 < median(0.9, 0.8); the short trial is left out
    assert not pruner.prune(me(3), curve([0.2, 0.95]), others)
    assert not pruner.prune(me(3), curve([0.2]), others)  # not a checkpoint
    assert not PercentilePruner(metric="val", check_interval=2, min_trials=3).prune(me(3), curve([0, 0]), others)


def test_percentile_keeps_the_share_it_names_in_either_mode():
    peers = study(*(curve([v]) for v in (1.0, 2.0, 3.0, 4.0, 5.0)))
    keep_half = PercentilePruner(metric="val", mode="min", percentile=50, min_trials=3)
    keep_quarter = PercentilePruner(metric="val", mode="min", percentile=25, min_trials=3)
    assert not keep_half.prune(me(9), curve([2.5]), peers) and keep_quarter.prune(me(9), curve([2.5]), peers)
    assert not keep_quarter.prune(me(9), curve([1.5]), peers)
    maximize = PercentilePruner(metric="val", mode="max", percentile=25, min_trials=3)
    assert maximize.prune(me(9), curve([3.5]), peers) and not maximize.prune(me(9), curve([4.5]), peers)


def test_presets_look_early_enough_for_typical_epoch_counts():
    def looks(pruner):
        return [n for n in range(1, 21) if pruner.due(me(0), curve([0.0] * n))]

    assert looks(make_pruner("aggressive", None, "val", "min")) == list(range(1, 21))
    assert looks(make_pruner("median", None, "val", "min")) == list(range(3, 21))
    assert looks(make_pruner("patient", None, "val", "min")) == [10, 12, 14, 16, 18, 20]
    seed = make_pruner("median", {"check_interval": 100, "min_trials": 3}, "val", "min")
    assert [n for n in range(1, 301, 1) if seed.due(me(0), curve([0.0] * n))] == [100, 200, 300]  # the seed's meaning
    # Halving looks when a report reaches a rung: steps 1, 3, 9 (reports are numbered from 0).
    assert looks(make_pruner("asha", None, "val", "min")) == [2, 4, 10]
    watched = make_pruner("median", {"metric": "loss", "mode": "min"}, "score", "max")
    assert (watched.metric, watched.mode, watched.describe()) == ("loss", "min", "median on loss (min)")


def test_bad_pruner_settings_fail_with_the_option_and_the_value():
    with pytest.raises(InvalidInput, match="early_stopping_kwargs: unknown keys \\['interval'\\] for 'median'"):
        make_pruner("median", {"interval": 2}, "score", "max")
    with pytest.raises(InvalidInput, match="early_stopping_kwargs\\['reduction_factor'\\]: expected an integer >= 2"):
        make_pruner("asha", {"reduction_factor": 1}, "score", "max")
    with pytest.raises(InvalidInput, match="early_stopping_kwargs\\['percentile'\\]: expected 0 < p < 100, got 150"):
        make_pruner("percentile", {"percentile": 150}, "score", "max")
    with pytest.raises(InvalidInput, match="early_stopping: expected one of .*'hyperband'.*got 'sometimes'"):
        make_pruner("sometimes", None, "score", "max")
    with pytest.raises(InvalidInput, match="early_stopping_kwargs: given with a Pruner instance"):
        make_pruner(PercentilePruner(), {"min_trials": 2}, "score", "max")
    text = blind_text(make_pruner("median", None, "score", "max"), {"val_loss"})
    assert "cannot see 'score': trials report only ['val_loss']" in text and "'metric': 'val_loss'" in text


def test_asha_promotes_the_best_third_of_those_that_reached_the_rung():
    asha = SuccessiveHalvingPruner(metric="val", mode="min", min_resource=1, reduction_factor=3)
    # Rung at step 3: earlier trials scored 1..6 there (one of them never got there).
    peers = study(*(curve([9, 9, 9, v]) for v in (1, 2, 3, 4, 5, 6)), curve([9, 9]))
    reaching = curve([9, 9, 9, 2.5])
    assert asha.due(me(9), reaching) and asha.prune(me(9), reaching, peers)  # 7 at the rung: the best 2 go on
    assert not asha.prune(me(9), curve([9, 9, 9, 1.5]), peers)
    assert not asha.due(me(9), curve([9, 9, 9, 2.5, 9]))  # between rungs nothing is decided
    # A trial that jumps past several rungs in one report is judged at each of them.
    assert asha.crossed([{"val": 1, "step": 0}, {"val": 1, "step": 10}]) == [1, 3, 9]
    # The first trials at a rung go on only if they are the best so far there.
    assert not asha.prune(me(1), curve([9, 1.0]), study(curve([9, 2.0])))
    assert asha.prune(me(1), curve([9, 3.0]), study(curve([9, 2.0])))


def test_successive_halving_rounds_compete_only_within_their_round():
    rounds = SuccessiveHalvingPruner(metric="val", mode="min", reduction_factor=2, cohort=4)
    peers = study(*(curve([9, v]) for v in (1, 2, 3, 4)))  # trials 0-3: the first round
    assert rounds.prune(me(3), curve([9, 3.5]), peers)  # in round 0: behind the best half
    assert not rounds.prune(me(5), curve([9, 3.5]), peers)  # round 1 starts alone: nobody to lose to
    assert SuccessiveHalvingPruner(metric="val", mode="min", reduction_factor=2).prune(me(5), curve([9, 3.5]), peers)


def test_hyperband_splits_trials_into_brackets_by_budget_and_compares_within_one():
    band = HyperbandPruner(metric="val", mode="min", min_resource=1, max_resource=27, reduction_factor=3)
    assert band.brackets(27) == 4
    counts = [0] * 4
    for number in range(1000):
        counts[band.bracket_of(number, 4)] += 1
    assert counts[0] > counts[1] > counts[2] > counts[3] > 0  # the eagerest bracket gets the most trials
    # "auto": nothing is pruned until a trial finished, then the most steps it reported is the budget.
    auto = HyperbandPruner(metric="val", mode="min")
    running = study(curve([5.0] * 10), states=["running"])
    assert not auto.prune(me(10), curve([9.0] * 4), running)
    finished = study(*(curve([1.0] * 28) for _ in range(49)))
    assert auto._max_resource(finished) == 27
    # Weights 27, 12, 6, 4 of every 49 trials: numbers 0-26 are in bracket 0 (rungs from step 1), 45-48 in
    # bracket 3 (first rung at step 27). Trial 49 is bracket 0's again.
    assert [band.bracket_of(n, 4) for n in (0, 26, 27, 38, 39, 44, 45, 48, 49)] == [0, 0, 1, 1, 2, 2, 3, 3, 0]
    assert auto.prune(me(49), curve([9.0, 9.0]), finished)
    assert not auto.prune(me(94), curve([9.0, 9.0]), finished)  # 94: bracket 3, which judges nothing before step 27
    assert auto.prune(me(94), curve([9.0] * 28), finished)


def learning_curve(ctx, rate):
    """Loss falls towards 1 - rate: a higher rate is better from the first step on."""
    for step in range(27):
        ctx.report(step, val_loss=(1 - rate) + 1.0 / (1 + step * rate))
        if ctx.should_stop():
            break
    return ObjectiveResult(score=rate, metrics={"steps": step + 1})


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_prunes_in_a_concurrent_sqlite_sweep_and_keeps_pruned_reports(preset, tmp_path):
    sweep = prepare_sweep(
        learning_curve,
        {"rate": Float(0.01, 1.0)},
        strategy="random",
        max_trials=24,
        max_concurrent=2,
        metric="val_loss",
        mode="min",
        early_stopping=preset,
        early_stopping_kwargs={"max_resource": 26} if preset == "hyperband" else None,
        storage=f"sqlite:///{tmp_path / 'study.db'}",
        study_name=f"pruning-{preset}",
        seed=3,
    )
    result = run_sweep(sweep, orchestrate=False)
    pruned = [t for t in result["trials"] if t["state"] == "pruned"]
    assert pruned and all(t["info"]["pruned_by"] == "early stopping policy" for t in pruned), result["counts"]
    stored = sweep.setup.store.reports()
    assert all(len(stored[t["trial_id"]]) == t["metrics"]["steps"] < 27 for t in pruned)
    stopping = result["early_stopping"]
    assert stopping["pruned"] == len(pruned) and stopping["reports"] == sum(len(r) for r in stored.values())
    assert stopping["reports"] < 24 * 27
    assert result["best"]["params"]["rate"] > 0.7
