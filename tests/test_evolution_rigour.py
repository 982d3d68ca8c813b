"""Evolution a researcher can trust: held-out selection, staged evaluation and parallel children,
with scripted MetaAgents that game the train score, break the tool's import, or make it worse."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from evolution_scripts import (
    BROKEN_IMPORT_TOOL,
    by_conversation,
    crash_job,
    is_meta,
    make_repo,
    meta_agent_breaks_addition,
    meta_agent_repairs,
    meta_agent_writes_tool,
    meta_requests,
    responder,
    tool_results,
)
from test_evolution_loop import config

from hyperfunc_core import load_archive, run_generate_loop
from hyperfunc_core.concurrency import run_coroutine
from hyperfunc_core.domains import CalculatorDomain
from hyperfunc_core.domains.builtin import CALCULATOR_TOOL
from hyperfunc_core.evolution.git_commits import commit_lineage
from hyperfunc_core.testing.scripted_agents import calculator_steps


def memorising_tool(tasks) -> str:
    """A calculator that knows only the answers of ``tasks`` (every step of each): 0 for anything else."""
    answers = {}
    for task in tasks:
        result = None
        for step in calculator_steps(task.inputs["problem"]):
            expression = step.format(*([result] if result is not None else []))
            result = f"{float(eval(expression)):g}"  # noqa: S307 - the test's own arithmetic
            answers[expression] = result
    return f"ANSWERS = {answers!r}\n\n\ndef calculate(expression):\n    return ANSWERS.get(expression.strip(), '0')\n"


def agent_in_a_subfolder(root: Path) -> Path:
    """A repository whose agent (the buggy calculator) lives in ``agent/``, committed; the agent's folder."""
    top = root / "mono"
    (top / "agent").mkdir(parents=True)
    shutil.copy(CALCULATOR_TOOL, top / "agent" / "calculator_tool.py")
    (top / "README.md").write_text("Other code of the project.\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=top, check=True)
    return top / "agent"


def git_out(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def test_a_child_fitted_to_train_is_not_selected_and_the_best_is_scored_once_on_test(llm_server, tmp_path):
    train = run_coroutine(CalculatorDomain().load_tasks("train", 10))
    memorises = meta_agent_writes_tool(memorising_tool(train), "Memorised the answers.")
    llm_server.responder = responder(by_conversation(memorises, meta_agent_repairs))
    repo = agent_in_a_subfolder(tmp_path)
    result = run_generate_loop(
        config(llm_server, tmp_path, repo, max_generations=2, parent_selection="best", eval_samples=10),
        orchestrate=False,
    )
    archive = load_archive(result.output_dir)
    initial, fitted, honest = (archive.entry(g) for g in ("initial", "1", "2"))
    # Generation 1 learned the train answers: perfect on train, worse than its parent on validation.
    assert fitted.mean_on("train") == 1.0 > initial.mean_on("train") == 0.5
    assert fitted.mean_on("validation") < initial.mean_on("validation") == 0.5
    assert fitted.score == fitted.mean_on("validation")  # what selection reads
    assert honest.parent_id == "initial"  # "best" chose by validation, not generation 1's train score
    assert honest.mean_on("validation") == 1.0 and result.best_gen == "2" and result.stop_reason == "perfect score"
    # The MetaAgent read train results and train scores only.
    prompts = [r.body["messages"][0]["content"] for r in llm_server.chat_requests() if is_meta(r.body)]
    assert all("calculator_eval_validation" not in p and "validation" not in p for p in prompts)
    # The best, chosen on validation, was scored once on the whole test split.
    test = json.loads((Path(result.output_dir) / "test.json").read_text())
    assert test["gen_id"] == "2" and test["score"] == 1.0 and result.test["score"] == 1.0
    report = json.loads((Path(result.output_dir) / "gen_2/calculator_eval_test/report.json").read_text())
    assert report["n"] == CalculatorDomain().split_sizes()["test"]
    asked = len(llm_server.chat_requests())
    again = run_generate_loop(
        config(llm_server, tmp_path, repo, max_generations=2, parent_selection="best", eval_samples=10),
        orchestrate=False,
    )
    assert len(llm_server.chat_requests()) == asked and again.test == result.test  # not scored on test twice
    text = (Path(result.output_dir) / "report.md").read_text()
    assert "| best on test (scored once) | gen2: 1 (validation 1) |" in text
    assert "| 1 | initial | 1 | 0 | True |" in text  # train 1, validation 0
    assert "[transcript](gen_2/agent_output/meta_agent_transcript.json)" in text

    # The best lineage as git commits on a new branch; the user's checkout is left as it was.
    branch, commits = commit_lineage(result.output_dir)
    top = repo.parent
    assert branch == "hyperfunc/out-gen-2" and len(commits) == 1
    assert "result = a * b" in git_out(top, "show", f"{branch}:agent/calculator_tool.py")
    assert git_out(top, "log", "-1", "--format=%s", branch).startswith("hyperfunc generation 2 (parent initial)")
    assert "Fixed multiplication" in git_out(top, "log", "-1", "--format=%b", branch)
    assert "result = a + b" in (repo / "calculator_tool.py").read_text().split("elif op in")[1]
    assert git_out(top, "status", "--porcelain") == "" and len(git_out(top, "worktree", "list").splitlines()) == 1
    with pytest.raises(ValueError, match="already exists"):
        commit_lineage(result.output_dir)


def test_parallel_children_a_broken_import_fails_the_smoke_check_and_a_worse_sample_stops_early(
    llm_server, tmp_path, prefect_harness
):
    breaks_import = meta_agent_writes_tool(BROKEN_IMPORT_TOOL, "Rewrote the calculator.")
    llm_server.responder = responder(by_conversation(breaks_import, meta_agent_breaks_addition))
    repo = make_repo(tmp_path)
    result = run_generate_loop(
        config(
            llm_server,
            tmp_path,
            repo,
            max_generations=1,
            children_per_generation=2,
            staged_sample=0.3,
            eval_samples=10,
        )
    )
    out = Path(result.output_dir)
    archive = load_archive(out)
    assert sorted(map(str, archive.archive)) == ["1", "2", "initial"]
    children = [archive.entry(g) for g in ("1", "2")]
    assert {c.parent_id for c in children} == {"initial"} and not any(c.valid_parent for c in children)
    broken = next(c for c in children if (c.metadata.get("error") or "").startswith("smoke check"))
    worse = next(c for c in children if c is not broken)
    assert "No module named 'no_such_module_anywhere'" in broken.metadata["error"]
    # No task of the broken child reached the TaskAgent: its tool failed before one ran.
    assert broken.metadata["staging"] == {"smoke": "failed", "check_tasks": 0, "tasks_saved": 20, "tasks_run": 0}
    assert not list((out / f"gen_{broken.gen_id}").glob("calculator_eval*"))
    # The other ran its smoke task and a 3-task sample (1/3 for the parent, 0/3 for it), nothing more.
    sample = worse.metadata["staging"]["sample"]
    assert (sample["parent"], sample["score"], sample["passed"]) == (pytest.approx(1 / 3), 0.0, False)
    assert worse.metadata["error"] is None and worse.metadata["staging"]["tasks_run"] == 4
    folders = sorted(p.name for p in (out / f"gen_{worse.gen_id}").glob("calculator_eval*"))
    assert folders == ["calculator_eval_sample", "calculator_eval_smoke"]
    # Two workspaces: each MetaAgent conversation was told its own repository.
    transcripts = [json.loads((out / f"gen_{g}/agent_output/meta_agent_transcript.json").read_text()) for g in "12"]
    assert len({t["transcript"][0]["content"] for t in transcripts}) == 2
    report = (out / "report.md").read_text()
    assert "1 failed the smoke check, 1 stopped at the sample; 40 task runs saved, 5 spent on checks" in report
    assert result.best_gen == "initial" and result.test["gen_id"] == "initial"


@pytest.mark.slow
def test_parallel_children_resume_after_a_kill_without_asking_a_finished_meta_agent_again(
    llm_server, tmp_path, prefect_harness
):
    import time

    def slow_repairs(body: dict):  # the last child's MetaAgent ends after its siblings were archived
        if len(tool_results(body)) == 3:
            time.sleep(5)
        return meta_agent_repairs(body)

    llm_server.responder = responder(by_conversation(meta_agent_repairs, meta_agent_repairs, slow_repairs))
    repo = make_repo(tmp_path)
    out = tmp_path / "out"
    job, env = crash_job(llm_server, tmp_path, repo, "3")
    first = subprocess.run(job, capture_output=True, text=True, env=env, timeout=240)
    assert first.returncode == 17, first.stderr[-3000:]
    done = {g: json.loads((out / f"gen_{g}/metadata.json").read_text()).get("meta_agent_done") for g in "123"}
    archived = {str(g) for g in load_archive(out).archive}
    assert archived & {"1", "2", "3"} and not {"1", "2", "3"} <= archived  # killed mid-generation
    asked = meta_requests(llm_server)  # a MetaAgent the kill cut short had asked some of its 4 requests
    assert asked >= 4 * sum(bool(d) for d in done.values())

    second = subprocess.run(job, capture_output=True, text=True, env=env, timeout=240)
    assert second.returncode == 0, second.stderr[-3000:]
    archive = load_archive(out)
    assert sorted(map(str, archive.archive)) == ["1", "2", "3", "initial"]
    # Only the children whose MetaAgent had not finished asked it again (4 requests each).
    assert meta_requests(llm_server) == asked + 4 * sum(not d for d in done.values())
    assert all(archive.entry(g).mean_on("validation") == 1.0 for g in "123")
    patches = {(out / f"gen_{g}/agent_output/model_patch.diff").read_text() for g in "123"}
    assert len(patches) == 1 and "result = a * b" in patches.pop()  # three workspaces, the same repair
    test = json.loads((out / "test.json").read_text())
    assert test["gen_id"] in ("1", "2", "3") and test["score"] == 1.0
