"""The main job (``hyperfunc demo``), then ``hyperfunc runs`` and ``hyperfunc replay`` on what it ran."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hyperfunc_core import Float, ObjectiveResult, tune
from hyperfunc_core.history import replay, replay_epoch, replay_trial

HYPERFUNC = str(Path(sys.executable).parent / "hyperfunc")


def _env(home: Path) -> dict:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "HYPERFUNC_HOME": str(home), "COLUMNS": "250", "PREFECT_API_URL": PREFECT_API_URL.value()}
    env.pop("HYPERFUNC_MODEL", None)
    return env


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HYPERFUNC, *args], capture_output=True, text=True, env=_env(home), timeout=600)


@pytest.mark.slow
def test_the_demo_runs_each_engine_then_runs_lists_them_and_replay_reproduces_them(tmp_path, prefect_harness):
    home = tmp_path / "home"
    done = _cli(home, "demo", "--trials", "6", "--steps", "20", "--generations", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "[1/3] Tuning sweep" in out and "[2/3] ES training" in out and "[3/3] Agent evolution" in out
    assert "SCRIPTED OFFLINE MODEL" in out and "export HYPERFUNC_MODEL=" in out  # says so, and how to configure one
    assert "hyperfunc server" in out and "http://127.0.0.1:4200" in out
    reports = [Path(line.split("report: ")[1].strip()) for line in out.splitlines() if "report: " in line]
    assert len(reports) == 3 and all(r.is_file() and r.name == "report.md" for r in reports), reports
    assert {p.name for r in reports for p in r.parent.glob("*.png")} == {
        "optimization_history.png",
        "parameter_importance.png",
        "parallel_coordinates.png",
        "slice.png",
        "contour.png",
        "loss_curve.png",
        "archive_tree.png",
        "score_over_generations.png",
    }
    name = next(line.split()[1] for line in out.splitlines() if line.startswith("Demo "))

    listed = _cli(home, "runs")
    assert listed.returncode == 0, listed.stderr[-2000:]
    rows = [line for line in listed.stdout.splitlines() if name in line]
    assert len(rows) == 3 and all("Completed" in row for row in rows), listed.stdout
    assert any("tuning" in r and "6 complete" in r for r in rows) and any("2 generations" in r for r in rows)

    for run in (f"{name}-branin", f"{name}-affine", f"{name}-calculator"):
        again = _cli(home, "replay", run)
        assert again.returncode == 0 and "-> reproduced" in again.stdout, again.stdout + again.stderr[-2000:]
    missing = _cli(home, "replay", "no-such-run")
    assert missing.returncode != 0 and "no study, ES run or evolution run named 'no-such-run'" in missing.stderr


def noisy(ctx, x: float) -> ObjectiveResult:
    return ObjectiveResult(score=x + random.random())


def test_replay_reports_the_difference_when_a_trial_does_not_reproduce(tmp_path, prefect_harness):
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    tune(noisy, {"x": Float(0.0, 1.0)}, strategy="random", max_trials=3, storage=db, study_name="noisy", seed=0)
    outcome = replay_trial("noisy", 1, db)
    assert outcome.item.startswith("trial 1 {'x': ") and not outcome.reproduced
    assert outcome.difference.startswith("score differs by ") and "NOT reproduced" in outcome.describe()
    with pytest.raises(ValueError, match="trial: study 'noisy' has no finished trial number 9"):
        replay_trial("noisy", 9, db)
    with pytest.raises(ValueError, match="no study, ES run or evolution run named 'nope'"):
        replay("nope", url=db)


def test_an_epoch_whose_checkpoint_was_altered_is_reported_as_different(tmp_path):
    from hyperfunc_core.jobs import train_target
    from hyperfunc_core.storage import ESEpoch, session_scope

    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    affine = Path(__file__).resolve().parents[1] / "examples/es/affine.py"
    train_target(
        f"{affine}:AffineSystem", orchestrate=False, steps=20, steps_per_epoch=10, run_name="tampered", storage=db
    )
    assert replay_epoch("tampered", 1, db).reproduced
    with session_scope(db) as s:
        path = next(e.checkpoint_path for e in s.query(ESEpoch).all() if e.epoch == 1)
    state = torch.load(path, weights_only=False)
    state["theta"] = state["theta"] + 0.01
    torch.save(state, path)
    outcome = replay_epoch("tampered", 1, db)
    assert not outcome.reproduced and outcome.difference.startswith("θ differs by up to 0.01")
    with pytest.raises(ValueError, match="epoch: ES run 'tampered' has epochs \\[0, 1\\], not 5"):
        replay_epoch("tampered", 5, db)


@pytest.mark.slow
def test_runs_lists_a_sweep_whose_study_lived_in_memory_and_says_where_its_trials_are(tmp_path, prefect_harness):
    """``tune()`` without ``storage`` keeps its study in memory; ``hyperfunc runs`` still lists it, from
    the result written beside its report, with its flow run's state."""
    home = tmp_path / "home"
    script = (
        "from hyperfunc_core import Float, tune\n"
        "tune(lambda ctx, x: x, {'x': Float(0.0, 1.0)}, max_trials=3, study_name='kept-in-memory')\n"
    )
    made = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(home), timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    listed = _cli(home, "runs", "--engine", "tuning")
    assert listed.returncode == 0, listed.stderr[-2000:]
    row = next(line for line in listed.stdout.splitlines() if "kept-in-memory" in line)
    assert "finished" in row and "Completed" in row and "3 complete" in row, listed.stdout
    assert "not in this database" in listed.stdout and "result.json" in listed.stdout.replace("\n", "")
