"""`hyperfunc tune`, `studies` and `study` on a file that defines an objective and a space."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from hyperfunc_core import trials_dataframe
from hyperfunc_core.cli import app
from hyperfunc_core.validation import InvalidInput

SWEEP_FILE = """
from hyperfunc_core import Float, Choice, ObjectiveResult

SPACE = {"x": Float(-2.0, 2.0), "kind": Choice(["a", "b"])}
TUNE_OPTIONS = {"strategy": "random", "max_trials": 3, "seed": 0}

def objective(ctx, x, kind):
    return ObjectiveResult(score=-(x - 1.0) ** 2 + (kind == "b"))
"""


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_tune_then_list_and_show_the_study(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "sweep.py"
    path.write_text(SWEEP_FILE)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    # A subprocess, not CliRunner: Prefect's console log handler would keep CliRunner's
    # stream, which is closed afterwards, and later flows in this session would fail on it.
    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value(), COLUMNS="200")
    hyperfunc = os.path.join(os.path.dirname(sys.executable), "hyperfunc")

    def tune(target: str, *flags: str) -> subprocess.CompletedProcess:
        argv = [hyperfunc, "tune", f"{path}:{target}", "--storage", url, *flags]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)

    result = tune("objective", "--study-name", "cli-study", "--max-trials", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "study cli-study: best score" in result.stdout
    runner = CliRunner()
    listed = runner.invoke(app, ["studies", "--storage", url], terminal_width=200)
    assert listed.exit_code == 0 and "cli-study" in listed.output and "random" in listed.output
    row = next(line for line in listed.output.splitlines() if "cli-study" in line)
    assert "│ 5 " in row  # the flag overrode TUNE_OPTIONS' max_trials
    shown = runner.invoke(app, ["study", "cli-study", "--storage", url], terminal_width=200)
    assert shown.exit_code == 0 and shown.output.count("complete") == 5
    missing = runner.invoke(app, ["study", "nope", "--storage", url])
    assert isinstance(missing.exception, InvalidInput) and "no study named 'nope'" in str(missing.exception)

    # Export, as Optuna's trials_dataframe() and a file a spreadsheet opens
    exported = tmp_path / "trials.csv"
    written = runner.invoke(app, ["study", "cli-study", "--storage", url, "--format", "csv", "-o", str(exported)])
    assert written.exit_code == 0, written.output
    rows = list(csv.DictReader(exported.open()))
    assert len(rows) == 5 and {"number", "state", "value", "params_x", "params_kind"} <= set(rows[0])
    as_json = runner.invoke(app, ["study", "cli-study", "--storage", url, "--format", "json"])
    assert [r["number"] for r in json.loads(as_json.output)] == [0, 1, 2, 3, 4]
    frame = trials_dataframe("cli-study", url)
    assert list(frame["number"]) == [0, 1, 2, 3, 4] and frame["params_x"].between(-2, 2).all()
    assert frame["value"].max() == pytest.approx(max(float(r["value"]) for r in rows))

    # Two runs side by side: what differs is what a person looks for
    again = tune("objective", "--study-name", "cli-study-2", "--seed", "7")
    assert again.returncode == 0, again.stdout + again.stderr
    compared = runner.invoke(
        app, ["runs", "--compare", "cli-study", "cli-study-2", "--storage", url], terminal_width=200
    )
    assert compared.exit_code == 0, compared.output
    trials_row = next(line for line in compared.output.splitlines() if line.startswith("│ trials "))
    assert "│ 5 " in trials_row and "│ 3 " in trials_row  # 5 trials (the flag) against TUNE_OPTIONS' 3
    lonely = runner.invoke(app, ["runs", "--compare", "cli-study", "--storage", url])
    assert isinstance(lonely.exception, InvalidInput) and "two or more run names" in str(lonely.exception)
    bad = tune("nothing")
    assert bad.returncode != 0 and "no objective named 'nothing'" in bad.stdout + bad.stderr
