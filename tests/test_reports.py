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
    return ObjectiveResult(score=-((x - 0.3) ** 2) + (0.1 if kind == "b" else 0.0))


def test_a_sweep_writes_history_and_importance_plots(tmp_path, prefect_harness):
    result = tune(
        objective,
        {"x": Float(0.0, 1.0), "kind": Choice(["a", "b"])},
        strategy="random",
        max_trials=12,
        storage=f"sqlite:///{tmp_path / 'db.sqlite'}",
        study_name="report-sweep",
        seed=1,
    )
    report = Path(result["report"])
    assert report.name == "report.md" and report.parent.name == "report-sweep"
    text = report.read_text()
    assert (
        "# Sweep `report-sweep`" in text
        and "| trials | 12 (12 complete) |" in text
        and "## Parameter importance" in text
    )
    assert "![optimisation history](optimization_history.png)" in text
    assert_plot(report.parent / "optimization_history.png")
    assert_plot(report.parent / "parameter_importance.png", min_height=150)


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


def test_evolution_writes_the_archive_tree(llm_server, tmp_path):
    from test_evolution_loop import config

    llm_server.responder = responder(meta_agent_repairs)
    result = run_generate_loop(config(llm_server, tmp_path, make_repo(tmp_path)), orchestrate=False)
    report = Path(result.report)
    assert report == Path(result.output_dir) / "report.md"
    text = report.read_text()
    assert "| stopped | perfect score |" in text and "initial (score: 0.500)" in text and "gen1 (score: 1.000)" in text
    assert_plot(Path(result.output_dir) / "archive_tree.png", min_width=400)
