"""The examples' run.py (single eval and evolve) and ``hyperfunc archive show``, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from evolution_scripts import meta_agent_repairs, meta_requests, responder

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path) -> dict:
    return {
        **os.environ,
        "HYPERFUNC_HOME": str(tmp_path / "home"),
        "PREFECT_HOME": str(tmp_path / "home" / "prefect"),
        "HYPERFUNC_LLM_API_KEY": "k",
    }


@pytest.mark.slow
def test_example_run_py_evaluates_then_evolves_and_archive_show_prints_the_tree(llm_server, tmp_path):
    llm_server.responder = responder(meta_agent_repairs)
    example = ROOT / "examples" / "calculator" / "run.py"
    common = ["--model", "openai/gpt-4o-mini", "--api-base", llm_server.api_base]
    single = subprocess.run(
        [sys.executable, str(example), *common, "--output", str(tmp_path / "eval")],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    assert "calculator: average score 0.533 over 30 tasks" in single.stdout  # every train task
    assert "calculate('6 * 7') in this folder answers 13" in single.stdout and "c1: answered '13'" in single.stdout
    assert (tmp_path / "eval" / "predictions.json").exists() and meta_requests(llm_server) == 0

    evolved = subprocess.run(
        [
            sys.executable,
            str(example),
            "evolve",
            "--local",
            "--generations",
            "2",
            "--eval-samples",
            "10",
            *common,
            "--output",
            str(tmp_path / "evo"),
        ],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=300,
    )
    assert evolved.returncode == 0, evolved.stderr[-2000:]
    # Two children, both repairing the tool; the first to be archived is the best (validation 1.0).
    assert "stopped: perfect score" in evolved.stdout and meta_requests(llm_server) == 8
    patch = (tmp_path / "evo" / "gen_1" / "agent_output" / "model_patch.diff").read_text()
    assert "+        result = a * b" in patch and "a/calculator_tool.py" in patch  # relative to the example folder
    assert "result = a + b" in (ROOT / "examples/calculator/calculator_tool.py").read_text()  # untouched

    hyperfunc = str(Path(sys.executable).parent / "hyperfunc")
    shown = subprocess.run(
        [hyperfunc, "archive", "show", str(tmp_path / "evo")],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "initial (score: 0.500)" in shown.stdout and "gen1 (score: 1.000)" in shown.stdout
    assert "gen2 (score: 1.000)" in shown.stdout and "best on test: gen" in shown.stdout
    one = subprocess.run(
        [hyperfunc, "archive", "show", str(tmp_path / "evo"), "--gen", "1"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    assert "generation 1 of" in one.stdout and "train: calculator 1.000" in one.stdout
    assert "-> editor(" in one.stdout and "[tool bash] 42" in one.stdout
    print(one.stdout)  # what a person reads (pytest -s)
    missing = subprocess.run(
        [hyperfunc, "archive", "show", "no-such-run"], capture_output=True, text=True, env=_env(tmp_path), timeout=120
    )
    assert missing.returncode != 0 and "neither a folder" in missing.stderr + missing.stdout


@pytest.mark.slow
def test_the_git_evolution_example_commits_the_best_lineage_to_a_branch(tmp_path):
    env = {k: v for k, v in _env(tmp_path).items() if k not in ("HYPERFUNC_MODEL", "HYPERFUNC_LLM_API_KEY")}
    out = tmp_path / "git_evolution"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples/git_evolution/run.py"),
            "--local",
            "--generations",
            "1",
            "--eval-samples",
            "10",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SCRIPTED OFFLINE MODEL" in done.stdout and "1 commit(s) on top of main" in done.stdout
    repo = out / "agent_repo"
    branch = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("branch "))
    tool = subprocess.run(["git", "show", f"{branch}:calculator_tool.py"], cwd=repo, capture_output=True, text=True)
    assert "result = a * b" in tool.stdout and "calculator_tool.py | 2 +-" in done.stdout
