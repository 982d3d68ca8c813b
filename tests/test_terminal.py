"""The terminal as a person sees it: each command run on a pseudo-terminal (tests/terminal.py).

Bad input is one line and exit code 2, before any server starts; long commands draw a live display
(bar, ETA, best so far, failed and pruned) with logs above it; Ctrl-C ends with one line saying
how to resume, and the run resumes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from evolution_scripts import make_repo, meta_agent_repairs, responder
from terminal import in_terminal

ROOT = Path(__file__).resolve().parents[1]
HYPERFUNC = str(Path(sys.executable).parent / "hyperfunc")
BRANIN = f"{ROOT / 'examples' / 'tuning' / 'branin.py'}:objective"
AFFINE = f"{ROOT / 'examples' / 'es' / 'affine.py'}:AffineSystem"
NOISE = ("Traceback", "Error flushing", "CancelledError", "anonymous usage")

README_SWEEP = """
import math
from hyperfunc_core import Choice, Float, ObjectiveResult

SPACE = {"learning_rate": Float(1e-4, 1e-1, log=True), "optimizer": Choice(["adam", "sgd"])}
TUNE_OPTIONS = {"max_trials": 24, "early_stopping": "median", "seed": 0}

def objective(ctx, learning_rate, optimizer):
    if learning_rate > 0.03:
        raise FloatingPointError("diverged")  # a failing trial: recorded, counted, the sweep goes on
    loss = 1.0
    for epoch in range(10):  # the README's objective: it reports val_loss, never score
        loss *= 0.5 + abs(math.log10(learning_rate) + 2.5) / 5 + (0.1 if optimizer == "sgd" else 0.0)
        ctx.report(step=epoch, val_loss=loss)
        if ctx.should_stop():
            break
    return ObjectiveResult(score=-loss)
"""


def _env(tmp_path: Path, **extra: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "HYPERFUNC_", "OPENAI_", "ANTHROPIC_")) and k != "DO_NOT_TRACK"
    }
    return {**env, "HYPERFUNC_HOME": str(tmp_path / "home"), **extra}


def _clean(screen: str) -> None:
    for noise in NOISE:
        assert noise not in screen, f"{noise!r} on the screen:\n{screen[-3000:]}"


@pytest.mark.parametrize(
    "argv, says",
    [
        (["tune", BRANIN, "--strategy", "bayes"], "error: strategy: unknown name 'bayes'; expected one of"),
        (["tune", BRANIN, "--mode", "minimize"], "error: mode: expected 'max' or 'min', got 'minimize'"),
        (["tune", BRANIN, "--max-trials", "-5"], "error: max_trials: expected an integer >= 1 or None, got -5"),
        (["tune", BRANIN, "--early-stopping", "median", "--metric", ""], "error: metric: expected"),
        (["train", AFFINE, "--steps", "0"], "error: steps: expected an integer >= 1, got 0"),
        (["train", AFFINE, "--keep", "last"], "error: keep: expected 'final' or 'best', got 'last'"),
        (["train", AFFINE, "--strategy", "lbfgs"], "error: strategy: expected None, an ES strategy object"),
        (["evolve", "calculater"], "error: domain: expected one of bash, scoring, factcheck, calculator"),
        (["evolve", "calculator", "--repo", "examples/nope", "--api-base", "http://127.0.0.1:9"], "error: repoPath:"),
        (["evolve", "calculator", "--repo", "examples/calculator"], "error: meta_agent: no model is configured"),
        (["study", "nope"], "error: NAME: no study named 'nope'"),
        (["runs", "--compare", "a"], "error: --compare: expected two or more run names"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2_before_any_server(argv, says, tmp_path):
    code, screen, _ = in_terminal([HYPERFUNC, *argv], _env(tmp_path), cwd=str(ROOT), timeout_s=120)
    lines = [line for line in screen.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith(says), screen
    assert "temporary" not in screen and "prefect" not in screen.lower()  # refused before any server started


def test_debug_shows_the_traceback_of_an_input_error(tmp_path):
    code, screen, _ = in_terminal([HYPERFUNC, "--debug", "evolve", "calculater"], _env(tmp_path), timeout_s=120)
    assert code == 1 and "Traceback" in screen and "InvalidInput: domain:" in screen


@pytest.mark.slow
def test_a_sweep_shows_a_live_bar_and_says_its_early_stopping_is_blind(tmp_path, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    (tmp_path / "sweep.py").write_text(README_SWEEP)
    code, screen, stream = in_terminal(
        [HYPERFUNC, "tune", f"{tmp_path / 'sweep.py'}:objective", "--study-name", "readme"],
        _env(tmp_path, PREFECT_API_URL=PREFECT_API_URL.value()),  # the session's server: no start to wait for
        columns=110,
        timeout_s=300,
    )
    assert code == 0, screen[-3000:]
    _clean(stream)
    assert "study readme" in screen and "/24 trials · eta" in screen and "· elapsed" in screen
    assert "24/24 trials" in screen and re.search(r"failed [1-9]\d* \| pruned 0 \| best", screen)
    assert "early stopping cannot see its metric" in screen  # in the status line
    warned = [line for line in screen.splitlines() if "WARNING | hyperfunc.tuning" in line]
    assert len(warned) == 1 and "cannot see 'score': trials report only ['val_loss']" in screen
    failed = [line for line in screen.splitlines() if "FloatingPointError: diverged" in line]
    assert failed and all(re.match(r"\d\d:\d\d:\d\d\.\d+ \| ERROR", line) for line in failed)  # above the bar
    assert "early stopping (median on score (max)): pruned 0 of 24 trials" in screen  # the summary
    report = tmp_path / "home" / "runs" / "tuning" / "readme" / "report.md"
    assert f"report: {report}" in screen  # whole, however long: nothing wraps a path
    assert "**early stopping was blind**" in report.read_text()


@pytest.mark.slow
def test_training_shows_a_live_bar_and_ctrl_c_ends_cleanly_then_resumes(tmp_path):
    argv = [HYPERFUNC, "train", AFFINE, "--run-name", "ctrl-c", "--steps", "80"]
    code, screen, stream = in_terminal(argv, _env(tmp_path), timeout_s=300, interrupt_after="epoch 3 of 8")
    assert code == 130, screen[-3000:]
    _clean(stream)
    assert "ES run ctrl-c" in screen and "/80 steps · eta" in screen and "best val" in screen
    assert "Finished in state Crashed" in screen  # recorded as such, the temporary server still up
    assert screen.rstrip().splitlines()[-2].startswith("interrupted: every finished trial, epoch and generation")
    listed = subprocess.run(
        [HYPERFUNC, "runs", "--no-prefect"], env=_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert re.search(r"│ training │ ctrl-c +│ interrupted", listed.stdout), listed.stdout
    code, screen, stream = in_terminal(argv, _env(tmp_path), timeout_s=300)
    assert code == 0, screen[-3000:]
    _clean(stream)
    assert "(resumed at epoch" in screen and "80/80 steps" in screen and "best epoch" in screen


@pytest.mark.slow
def test_evolution_shows_a_live_bar(llm_server, tmp_path):
    llm_server.responder = responder(meta_agent_repairs)
    repo = make_repo(tmp_path)
    argv = [HYPERFUNC, "evolve", "calculator", "--repo", str(repo), "--generations", "2", "--local"]
    argv += ["--executor", "local", "--model", "openai/gpt-4o-mini", "--api-base", llm_server.api_base]
    code, screen, stream = in_terminal(argv, _env(tmp_path, HYPERFUNC_LLM_API_KEY="k"), timeout_s=300)
    assert code == 0, screen[-3000:]
    _clean(stream)
    assert "evolution calculator" in screen and "1/3 generations · eta" in stream  # a frame while it ran
    assert "running generation 1 | best 0.500 (gen initial) | failed 0" in stream
    assert "stopped: perfect score | best 1.000 (gen 1) | failed 0" in screen and "2/2 generations" in screen
