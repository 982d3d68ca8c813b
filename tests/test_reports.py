"""Run reports: report.md and PNG plots under each engine's output folder, checked by rendering."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from evolution_scripts import make_repo, meta_agent_repairs, responder

from hyperfunc_core import Choice, Float, ObjectiveResult, run_generate_loop, tune
from hyperfunc_core.reports import parameter_importance
from hyperfunc_core.testing.images import png_summary

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "es"))

import affine  # noqa: E402


def assert_plot(path: Path, min_width: int = 500, min_height: int = 200) -> None:
    assert path.is_file(), path
    seen = png_summary(path)
    assert seen["width"] >= min_width and seen["height"] >= min_height, seen
    assert seen["inked"] > 0.01 and seen["colours"] > 8, f"{path.name} looks blank: {seen}"


def test_importance_finds_the_parameter_that_matters():
    rng = random.Random(0)
    trials = [
        {"params": {"x": x, "noise": rng.random(), "kind": rng.choice("ab")}, "value": 10 * x + 0.1 * rng.random()}
        for x in (rng.random() for _ in range(60))
    ]
    importance = parameter_importance(trials)
    assert importance["x"] > 0.8 and abs(sum(importance.values()) - 1) < 1e-9
    assert parameter_importance(trials[:3]) == {"kind": 0.0, "noise": 0.0, "x": 0.0}  # too few to say


def objective(ctx, x: float, kind: str) -> ObjectiveResult:
    loss = 1.0
    for epoch in range(8):  # a learning curve: good x learn fast, bad x stall (and get pruned)
        loss *= 0.3 + abs(x - 0.3)
        ctx.report(step=epoch, val_loss=loss)
        if ctx.should_stop():
            break
    return ObjectiveResult(score=-((x - 0.3) ** 2) + (0.1 if kind == "b" else 0.0))


def test_value_scale_is_log_where_values_span_decades():
    from hyperfunc_core.reports.plots import value_scale

    assert value_scale([1.0, 2.0, 3.0, 4.0]) == "linear"
    assert value_scale([0.001, 0.1, 5.0, 40.0]) == "log"
    assert value_scale([-0.001, -0.2, -30.0]) == "symlog"
    assert value_scale([-5.0, 0.01, 300.0]) == "symlog"


def test_a_sweep_writes_history_and_importance_plots(tmp_path, prefect_harness):
    result = tune(
        objective,
        {"x": Float(0.0, 1.0), "kind": Choice(["a", "b"])},
        strategy="random",
        max_trials=12,
        storage=f"sqlite:///{tmp_path / 'db.sqlite'}",
        study_name="report-sweep",
        seed=1,
        early_stopping="aggressive",
        early_stopping_kwargs={"metric": "val_loss", "mode": "min", "warmup_reports": 2},
    )
    report = Path(result["report"])
    assert report.name == "report.md" and report.parent.name == "report-sweep"
    text = report.read_text()
    counts = result["counts"]
    assert counts.get("pruned", 0) >= 1 and sum(counts.values()) == 12, counts
    assert "# Sweep `report-sweep`" in text and "| trials | 12 (" in text and "## Parameter importance" in text
    assert f"| early stopping | aggressive on val_loss (min): pruned {counts['pruned']} of 12 trials |" in text
    for title, name in (
        ("optimisation history", "optimization_history"),
        ("parameter importance", "parameter_importance"),
        ("parallel coordinates", "parallel_coordinates"),
        ("slice", "slice"),
        ("contour", "contour"),
        ("intermediate values", "intermediate_values"),
    ):
        assert f"![{title}]({name}.png)" in text
        assert_plot(report.parent / f"{name}.png", min_height=150)


def test_training_writes_its_loss_curve(tmp_path):
    system = affine.AffineSystem()
    result = system.optimize(
        affine.TRAIN,
        affine.mse_metric,
        orchestrate=False,
        run_name="report-es",
        steps=30,
        steps_per_epoch=10,
        storage=f"sqlite:///{tmp_path / 'db.sqlite'}",
    )
    report = Path(result["report"])
    text = report.read_text()
    assert "# ES run `report-es`" in text and "| epochs | 3 |" in text and "![loss curve](loss_curve.png)" in text
    assert text.count("\n| 2 |") == 1  # one row per epoch
    assert_plot(report.parent / "loss_curve.png")
    assert all(len(m["step_scores"]) == 10 for m in result["history"])  # the per-step curve's points


def test_training_keeps_the_best_epochs_theta_beside_the_final_one(tmp_path):
    import torch

    from hyperfunc_core.hyper.training import best_epoch

    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # lr too high for the last epochs to help: the best epoch (on VAL) comes before the last
    trained = affine.AffineSystem(
        system_optimizer=affine.ESHybridSystemOptimizer(steps=60, pop_size=16, sigma=0.3, lr=0.6, antithetic=True)
    )
    result = trained.optimize(
        affine.TRAIN,
        affine.mse_metric,
        val=affine.VAL,
        orchestrate=False,
        run_name="best-es",
        steps_per_epoch=5,
        storage=storage,
        keep="best",
    )
    assert best_epoch(result["history"]) == (result["best_epoch"], "val", result["best_score"])
    assert result["best_score"] == max(m["val_score"] for m in result["history"])
    folder = Path(result["report"]).parent
    best, final = torch.load(folder / "best.pt"), torch.load(folder / "final.pt")
    assert all(torch.equal(trained.get_hp_state()[n], best[n]) for n in best)  # keep="best": the system holds it
    if result["best_epoch"] != result["history"][-1]["epoch"]:
        assert not all(torch.equal(best[n], final[n]) for n in best)
    fresh = affine.AffineSystem()
    fresh.load_trained("best-es", storage, which="final")
    assert all(torch.equal(fresh.get_hp_state()[n], final[n]) for n in final)
    fresh.load_trained("best-es", storage, which="best")
    assert all(torch.equal(fresh.get_hp_state()[n], best[n]) for n in best)
    text = (folder / "report.md").read_text()
    assert f"| best epoch | {result['best_epoch']} (val score" in text and "| θ kept in the system | best |" in text


def test_evolution_writes_the_archive_tree(llm_server, tmp_path):
    from test_evolution_loop import config

    llm_server.responder = responder(meta_agent_repairs)
    result = run_generate_loop(config(llm_server, tmp_path, make_repo(tmp_path)), orchestrate=False)
    report = Path(result.report)
    assert report == Path(result.output_dir) / "report.md"
    text = report.read_text()
    assert "| stopped | perfect score |" in text and "initial (score: 0.500)" in text and "gen1 (score: 1.000)" in text
    assert_plot(Path(result.output_dir) / "archive_tree.png", min_width=400)
    assert_plot(Path(result.output_dir) / "score_over_generations.png")
    assert "| best lineage | initial → 1 |" in text
