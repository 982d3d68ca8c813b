"""Every LLM path against a real server no one here wrote: ``transformers serve`` with the bundled
SmolLM2-135M (``scripts/setup.sh --local``). Nothing is scripted; the model is too small to be good,
so the tests check that each answer was made, recorded, and where unusable, handled as a recorded
fallback. ``scripts/test.sh`` installs the model, names its folder in HYPERFUNC_TEST_LOCAL_MODEL_DIR
(every other test runs where no local model is found) and sets HYPERFUNC_TEST_LOCAL_MODEL=required."""

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
    """The local model, served the way `hyperfunc model serve` does (announced: runs of this home with no
    model configured use it), its answers capped at MAX_TOKENS."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HYPERFUNC_LOCAL_MODEL_DIR", os.environ.get("HYPERFUNC_TEST_LOCAL_MODEL_DIR", "/nonexistent"))
        if not local_model.installed():
            if os.environ.get("HYPERFUNC_TEST_LOCAL_MODEL") == "required":
                pytest.fail(f"the local model is not installed in {local_model.home()}")
            pytest.skip("no local model here: scripts/setup.sh --local installs it")
        log = tmp_path_factory.mktemp("local-model") / "server.log"
        with local_model.start_server(log=log, max_tokens=MAX_TOKENS, announce=True) as running:
            yield running
        print(log.read_text()[-2000:])


def gateway(server, max_tokens: int = MAX_TOKENS, **kw):
    from hyperfunc_core.llm import LLMGateway

    options = {**server.gateway_options(), "timeout_s": 120, "max_retries": 1}
    return LLMGateway(**{**options, "default_params": {"max_tokens": max_tokens}, **kw})


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


def test_the_meta_agent_makes_a_tool_call_round_trip_with_the_real_model(server, tmp_path):
    """The server hands ``tools=`` to SmolLM2's chat template, which drops them: declared as a text-protocol
    server, the model reads its tools in the prompt. Told plainly what to call, it writes the call, the
    MetaAgent's bash tool runs it in the repository, and the result goes back to the model."""
    from hyperfunc_core import AgentOptions, MetaAgent

    assert server.ways()["tool_protocol"] == "text"
    work = tmp_path / "agent"
    work.mkdir()
    (work / "calculator_tool.py").write_text("def calculate(expression):\n    return '0'\n")
    prompt = tmp_path / "meta_agent.txt"
    call = '<tool_call>{"name": "bash", "arguments": {"command": "ls"}}</tool_call>'
    prompt.write_text(f"Copy the following text exactly:\n{call}")
    options = AgentOptions(gateway=gateway(server, 64), max_steps=2, prompt_file=str(prompt), temperature=0.0)
    run = asyncio.run(MetaAgent(options).arun(str(work), str(tmp_path / "eval"), 0.5, 1))
    print("transcript:", json.dumps(run.transcript)[-1500:])
    assert run.tool_calls[0] == {"tool": "bash", "arguments": {"command": "ls"}, "result": "calculator_tool.py"}
    roles = [m["role"] for m in run.transcript]
    assert roles[:4] == ["user", "assistant", "tool", "assistant"]  # the result went back; the model answered again
    assert run.usage["requests"] == 2 and all("usage" in m for m in run.transcript if m["role"] == "assistant")


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


def test_hyperfunc_evolve_with_no_model_configured_runs_a_generation_on_the_local_model(server, tmp_path):
    from typer.testing import CliRunner

    from hyperfunc_core import load_archive
    from hyperfunc_core.cli import app
    from hyperfunc_core.domains.builtin import CALCULATOR_TOOL

    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(CALCULATOR_TOOL, repo / "calculator_tool.py")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    out = tmp_path / "run"
    command = ["evolve", "calculator", "--repo", str(repo), "--generations", "1", "--eval-samples", "1"]
    command += ["--output", str(out), "--run-name", "local-model-evolution", "--local", "--executor", "local"]
    done = CliRunner().invoke(app, command, terminal_width=250)
    print(done.output[-3000:])
    assert done.exit_code == 0, done.output[-3000:]
    # chosen and said before any work: the server `hyperfunc model serve` keeps (this module's)
    assert f"LOCAL MODEL {server.gguf.name}" in done.output and f"model serve` at {server.api_base}" in done.output
    archive = load_archive(out)
    print({g: (archive.entry(g).scores, archive.entry(g).metadata.get("error")) for g in archive.archive})
    assert [str(g) for g in archive.archive] == ["initial", "1"]
    assert (out / "gen_1" / "agent_output" / "meta_agent_transcript.json").exists()
    for g in archive.archive:  # scored, or failed with its reason recorded
        entry = archive.entry(g)
        assert entry.scores or entry.metadata.get("error")
        assert entry.metadata["usage"]["total_tokens"] > 0 and entry.metadata["usage"]["cost_usd"] == 0.0
    assert server.process.poll() is None  # the run used the kept server and left it running
