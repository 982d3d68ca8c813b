"""The generation loop end to end, with the scripted server playing both agents."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from evolution_scripts import crash_job, is_meta, make_repo, meta_agent_repairs, meta_requests, responder

from hyperfunc_core import (
    AgentOptions,
    GenerateLoopConfig,
    MetaAgent,
    TaskAgent,
    get_framework_tools,
    load_archive,
    run_generate_loop,
)
from hyperfunc_core.cli.evolution import show_archive
from hyperfunc_core.domains import CalculatorDomain
from hyperfunc_core.history.runs import list_runs


def default_test_mode() -> str:
    """The sandbox where it starts (scripts/test.sh installs bubblewrap), so the loop tests run agent code in it."""
    from hyperfunc_core.executors.sandbox import sandbox_status

    return "sandbox" if os.environ.get("HYPERFUNC_TEST_SANDBOX") == "required" or sandbox_status()[0] else "local"


def config(server, tmp_path: Path, repo: Path, **kw) -> GenerateLoopConfig:
    model = "openai/gpt-4o-mini"
    options = dict(model=model, api_base=server.api_base, api_key="k")
    settings = dict(
        domains=[CalculatorDomain()],
        meta_agent=MetaAgent(AgentOptions(**options)),
        task_agent_factory=lambda tools: TaskAgent(AgentOptions(tools=tools, **options)),
        tools=get_framework_tools(),
        output_dir=str(tmp_path / "out"),
        repo_path=str(repo),
        storage=f"sqlite:///{tmp_path / 'db.sqlite'}",
        max_generations=3,
        execution_mode=default_test_mode(),
    )
    return GenerateLoopConfig(**{**settings, **kw})


def test_meta_agent_repairs_the_buggy_calculator_and_the_next_generation_scores_one(
    llm_server, tmp_path, prefect_harness
):
    llm_server.responder = responder(meta_agent_repairs)
    repo = make_repo(tmp_path)
    result = run_generate_loop(config(llm_server, tmp_path, repo, tools=get_framework_tools(bash_timeout_s=7)))

    assert result.stop_reason == "perfect score" and result.generations_run == ["initial", "1"]
    archive = load_archive(result.output_dir)
    assert archive.entry("initial").scores == {"calculator": 0.5}  # the three multiplications come out wrong
    assert archive.entry("1").scores == {"calculator": 1.0} and archive.entry("1").parent_id == "initial"
    out = Path(result.output_dir)
    patch = (out / "gen_1/agent_output/model_patch.diff").read_text()
    assert "-        result = a + b" in patch and "+        result = a * b" in patch
    predictions = json.loads((out / "gen_1/calculator_eval/predictions.json").read_text())
    assert {p["questionId"]: p["prediction"] for p in predictions}["c1"] == "42"
    assert json.loads((out / "gen_1/calculator_eval/report.json").read_text())["averageScore"] == 1.0
    meta = json.loads((out / "gen_1/metadata.json").read_text())
    assert meta["meta_agent"]["tool_calls"] == 3 and meta["usage"]["cost_usd"] > 0 and meta["usage"]["total_tokens"] > 0
    assert (repo / "calculator_tool.py").read_text().count("result = a + b") == 2  # the user's repo is untouched
    assert meta_requests(llm_server) == 4
    # The loop's tools are the MetaAgent's (a 7 s bash), and its prompt carries every domain and the lineage.
    first_meta = next(r.body for r in llm_server.chat_requests() if is_meta(r.body))
    assert any("timeout 7 s" in t["function"]["description"] for t in first_meta["tools"])
    saved = json.loads((out / "gen_1/agent_output/meta_agent_transcript.json").read_text())
    prompt = saved["transcript"][0]["content"]
    assert "- calculator: " in prompt and "(score 50.0%)" in prompt
    assert "Scores along this version's lineage, root first: gen initial: 50.0%." in prompt
    assert [m["role"] for m in saved["transcript"]] == ["user"] + ["assistant", "tool"] * 3 + ["assistant"]
    assert [m["name"] for m in saved["transcript"] if m["role"] == "tool"] == ["editor", "editor", "bash"]
    assert all(m["usage"]["total_tokens"] > 0 for m in saved["transcript"] if m["role"] == "assistant")
    assert "42" in saved["transcript"][6]["content"]  # the bash check's output, as the MetaAgent read it
    shown = show_archive(str(out), gen="1")
    assert "patch " in shown and "calculator_tool.py" in shown and "[tool bash] 42" in shown
    assert "-> editor(" in shown and "MetaAgent transcript (4 turns)" in shown
    # named by its folder, the run is still matched to its flow run in `hyperfunc runs`
    (summary,) = list_runs(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert (summary.name, summary.flow_run, summary.flow_state) == (str(out), "evolve-out", "Completed")


@pytest.mark.slow
def test_a_crash_after_the_meta_agent_step_does_not_call_it_again(llm_server, tmp_path, prefect_harness):
    import subprocess

    llm_server.responder = responder(meta_agent_repairs)
    repo = make_repo(tmp_path)
    out = tmp_path / "out"
    job, env = crash_job(llm_server, tmp_path, repo)
    first = subprocess.run(job, capture_output=True, text=True, env=env, timeout=180)
    assert first.returncode == 17, first.stderr[-3000:]
    assert meta_requests(llm_server) == 4  # the MetaAgent ran and its patch was saved, then the process died
    assert json.loads((out / "gen_1/metadata.json").read_text())["meta_agent_done"] is True
    assert "1" not in load_archive(out).entries

    second = subprocess.run(job, capture_output=True, text=True, env=env, timeout=180)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "STOP perfect score 1.0" in second.stdout
    assert meta_requests(llm_server) == 4  # resumed: not one more MetaAgent request
    archive = load_archive(out)
    assert archive.archive == ["initial", "1"] and archive.entry("1").scores == {"calculator": 1.0}


def _meta_prompts(server) -> list[str]:
    from evolution_scripts import is_meta, tool_results

    return [
        str(r.body["messages"][0]["content"])
        for r in server.chat_requests()
        if is_meta(r.body) and not tool_results(r.body)
    ]


def test_a_crashed_meta_agent_or_a_broken_patch_is_recorded_and_the_loop_goes_on(llm_server, tmp_path, prefect_harness):
    from evolution_scripts import is_meta, meta_agent_takes_notes, task_agent

    from hyperfunc_core.testing import error

    repo = make_repo(tmp_path)
    llm_server.responder = lambda body: error(400, "bad request") if is_meta(body) else task_agent(body)
    result = run_generate_loop(
        config(llm_server, tmp_path, repo, max_generations=2, parent_selection="latest", run_name="meta-fails")
    )  # the production path: a flow, each generation a subflow
    archive = load_archive(result.output_dir)
    assert result.stop_reason == "max generations" and archive.archive == ["initial", "1", "2"]
    for gen in ("1", "2"):
        e = archive.entry(gen)
        assert not e.valid_parent and e.parent_id == "initial" and "meta agent: LLMError" in e.metadata["error"]

    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    async def states() -> dict[str, object]:
        async with get_client() as client:
            names = ["evolve-meta-fails", *(f"evolve-meta-fails-gen-{g}" for g in ("initial", "1", "2"))]
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names)))
            return {r.name: r.state for r in runs}

    seen = asyncio.run(states())  # failed generations are Failed subflows; the run goes on and counts them
    assert seen["evolve-meta-fails-gen-initial"].is_completed()
    assert seen["evolve-meta-fails-gen-1"].is_failed() and seen["evolve-meta-fails-gen-2"].is_failed()
    assert seen["evolve-meta-fails"].is_completed() and "2 failed" in seen["evolve-meta-fails"].message

    out2 = tmp_path / "second"
    llm_server.responder = responder(meta_agent_takes_notes)
    first = run_generate_loop(
        config(llm_server, tmp_path, repo, max_generations=1, output_dir=str(out2)), orchestrate=False
    )
    patch = out2 / "gen_1/agent_output/model_patch.diff"
    assert "NOTES.md" in patch.read_text() and first.stop_reason == "max generations"
    patch.write_text(patch.read_text().replace("new file mode", "deleted file mode"))  # no longer applies
    resumed = run_generate_loop(
        config(llm_server, tmp_path, repo, max_generations=2, output_dir=str(out2), parent_selection="latest"),
        orchestrate=False,
    )
    e = load_archive(out2).entry("2")
    assert resumed.generations_run == ["2"] and not e.valid_parent and e.metadata["error"].startswith("patch:")


def test_an_unreachable_llm_is_a_failed_generation_and_a_finished_score_is_never_recomputed(llm_server, tmp_path):
    from evolution_scripts import is_meta

    from hyperfunc_core.testing import error

    repo = make_repo(tmp_path)
    options = dict(model="openai/gpt-4o-mini", api_base=llm_server.api_base, api_key="k", max_retries=1)
    strict = dict(task_agent_factory=lambda tools: TaskAgent(AgentOptions(tools=tools, **options)))
    down = lambda body: error(500, "provider down") if not is_meta(body) else meta_agent_repairs(body)  # noqa: E731
    llm_server.responder = down
    result = run_generate_loop(config(llm_server, tmp_path, repo, **strict), orchestrate=False)
    initial = load_archive(result.output_dir).entry("initial")
    assert not initial.valid_parent and initial.scores == {} and result.stop_reason == "no valid parent"
    assert "smoke check: calculator: LLMError" in initial.metadata["error"]
    assert "provider down" in initial.metadata["error"]
    # The smoke check's one task was tried twice, recorded with it; no other task was run.
    assert initial.metadata["usage"]["failed_attempts"] == 2 and initial.metadata["staging"]["smoke"] == "failed"

    out = tmp_path / "finished"
    llm_server.responder = responder(meta_agent_repairs)
    run_generate_loop(config(llm_server, tmp_path, repo, output_dir=str(out), **strict), orchestrate=False)
    assert load_archive(out).entry("1").scores == {"calculator": 1.0}
    archive = out / "archive.jsonl"
    lines = archive.read_text().splitlines(keepends=True)
    archive.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # a torn last append
    assert "1" not in load_archive(out).entries
    llm_server.responder = down
    asked = len(llm_server.chat_requests())
    resumed = run_generate_loop(config(llm_server, tmp_path, repo, output_dir=str(out), **strict), orchestrate=False)
    gen1 = load_archive(out).entry("1")
    assert resumed.generations_run == ["1"] and gen1.valid_parent and gen1.scores == {"calculator": 1.0}
    assert len(llm_server.chat_requests()) == asked  # neither agent was asked again

    (out / "gen_1/metadata.json").write_text('{"gen_id": "1", "parent_genid": "ini')  # a torn write
    with pytest.warns(RuntimeWarning, match="gen_1/metadata.json is damaged .*generation 1 runs again"):
        from hyperfunc_core.evolution.archive import load_gen_metadata

        assert load_gen_metadata(out, "1") == {}
    assert list((out / "gen_1").glob("metadata.damaged-*.json"))

    from hyperfunc_core.domains import get_domain

    with pytest.raises(
        ValueError,
        match="started with other settings .*domains was \\['calculator'\\], now "
        "\\['calculator', 'bash'\\]; eval_samples was 10, now 3",
    ):
        run_generate_loop(
            config(
                llm_server,
                tmp_path,
                repo,
                output_dir=str(out),
                eval_samples=3,
                domains=[CalculatorDomain(), get_domain("bash")],
                **strict,
            )
        )


def test_the_meta_agent_edits_its_own_prompt_file_and_the_next_one_reads_it(llm_server, tmp_path):
    from evolution_scripts import meta_agent_edits_its_prompt

    repo = make_repo(tmp_path)
    llm_server.responder = responder(meta_agent_edits_its_prompt)
    run_generate_loop(
        config(llm_server, tmp_path, repo, max_generations=2, parent_selection="latest", prompts_dir="prompts"),
        orchestrate=False,
    )
    prompts = _meta_prompts(llm_server)
    assert len(prompts) == 2
    assert "Focus on edge cases first." not in prompts[0] and prompts[0].startswith(
        "You are an expert AI agent engineer"
    )
    assert prompts[1].startswith("Focus on edge cases first.\nYou are an expert AI agent engineer")
    assert "The current agent scores 50.0%" in prompts[1] and "iteration" in prompts[1]
    assert str(repo) not in prompts[1]  # it works in the generation's private workspace, never the user's checkout


def test_a_budget_stops_the_loop_cleanly_and_usage_is_stored(llm_server, tmp_path):
    from sqlmodel import select

    from hyperfunc_core.storage import session_scope
    from hyperfunc_core.storage.models import EvolutionRun, Generation

    repo = make_repo(tmp_path)
    llm_server.responder = responder(meta_agent_repairs)
    cfg = config(llm_server, tmp_path, repo, budget_usd=1e-9, run_name="budgeted")
    result = run_generate_loop(cfg, orchestrate=False)
    assert result.stop_reason == "budget" and result.generations_run == ["initial"] and result.cost_usd > 0
    with session_scope(cfg.storage) as session:
        run = session.exec(select(EvolutionRun).where(EvolutionRun.name == "budgeted")).one()
        gens = session.exec(select(Generation).where(Generation.run_id == run.id)).all()
        assert run.status == "finished: budget" and run.cost_usd == pytest.approx(result.cost_usd)
        assert [(g.gen_id, g.score) for g in gens] == [("initial", 0.5)] and gens[0].prompt_tokens > 0


def test_bad_loop_configuration_fails_fast(llm_server, tmp_path):
    repo = make_repo(tmp_path)
    for kw, message in [
        ({"max_generations": -1}, "max_generations"),
        ({"parent_selection": "greedy"}, "parent_selection"),
        ({"domains": []}, "domains"),
        ({"execution_mode": "cloud"}, "execution_mode"),
        ({"budget_usd": -1}, "budget_usd"),
        ({"eval_samples": 0}, "eval_samples: expected an integer >= 1"),
        ({"eval_repeats": 0}, "eval_repeats: expected an integer >= 1, got 0"),
        ({"output_dir": str(repo / "README.md")}, "output_dir: .*README.md is a file"),
        ({"storage": "mysql://u@h/db"}, "storage: .*scheme 'mysql'"),
        ({"base_commit": ""}, "base_commit"),
        (
            {"meta_agent": MetaAgent(AgentOptions(model="openai/x", tools=get_framework_tools()))},
            "tools: the MetaAgent already has its bash and editor",
        ),
    ]:
        with pytest.raises(ValueError, match=message):
            config(llm_server, tmp_path, repo, **kw)


def test_repeated_evaluation_archives_the_mean_and_the_spread(llm_server, tmp_path):
    """LLM sampling makes one score noisy: with eval_repeats=3 each generation is scored three times,
    on train and on validation; validation's mean and spread are what selection and the archive use."""
    from collections import Counter

    from hyperfunc_core.concurrency import run_coroutine
    from hyperfunc_core.testing import text

    domain = CalculatorDomain()
    train = run_coroutine(domain.load_tasks("train", 6))  # c1..c6
    validation = run_coroutine(domain.load_tasks("validation", 6))
    # The passes (1-3) in which each task is answered right: train 4/6, 1/6, 4/6; validation 3/6, 6/6, 3/6.
    right = {
        t.inputs["problem"]: {1, 2, 3} if t.id == "c1" else {1, 3} if t.id in ("c2", "c3", "c4") else set()
        for t in train
    }
    right |= {t.inputs["problem"]: {1, 2, 3} if i < 3 else {2} for i, t in enumerate(validation)}
    expected = {t.inputs["problem"]: t.expected for t in train + validation}
    asked: Counter = Counter()

    def answer(body):
        problem = next((p for p in expected if p in body["messages"][0]["content"]), None)
        if problem is None:  # the test split, scored once at the end
            return text("-1")
        asked[problem] += 1
        return text(expected[problem] if asked[problem] in right[problem] else "-1")

    llm_server.responder = answer
    repo = make_repo(tmp_path)
    settings = dict(max_generations=0, eval_repeats=3, eval_samples=6, smoke_check=False)
    result = run_generate_loop(config(llm_server, tmp_path, repo, **settings), orchestrate=False)
    entry = load_archive(result.output_dir).entry("initial")
    assert entry.scores["calculator"] == pytest.approx(2 / 3)  # validation's mean
    assert entry.split_scores("train")["calculator"] == pytest.approx(0.5)
    assert entry.metadata["score_spread"]["calculator"] == pytest.approx(0.2357, abs=1e-4)
    assert entry.metadata["eval_repeats"] == 3
    out = Path(result.output_dir) / "gen_initial"
    assert [
        json.loads((out / f"calculator_eval{s}/report.json").read_text())["averageScore"]
        for s in ("", "_repeat_1", "_repeat_2", "_validation", "_validation_repeat_1", "_validation_repeat_2")
    ] == pytest.approx([4 / 6, 1 / 6, 4 / 6, 3 / 6, 1.0, 3 / 6])
    shown = show_archive(result.output_dir, gen="initial")
    assert "train: calculator 0.500\n" in shown
    assert "validation: calculator 0.667 ±0.236 (mean of 3 evaluations" in shown
    with pytest.raises(ValueError, match="eval_repeats was 3, now 1"):  # a resume may not change it
        run_generate_loop(config(llm_server, tmp_path, repo, **{**settings, "eval_repeats": 1}), orchestrate=False)
