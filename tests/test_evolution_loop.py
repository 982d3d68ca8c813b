"""The generation loop end to end, with the scripted server playing both agents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolution_scripts import make_repo, meta_agent_repairs, meta_requests, responder
from hyperfunc_core import (
    AgentOptions,
    GenerateLoopConfig,
    MetaAgent,
    TaskAgent,
    get_framework_tools,
    load_archive,
    run_generate_loop,
)
from hyperfunc_core.domains import CalculatorDomain


def config(server, tmp_path: Path, repo: Path, **kw) -> GenerateLoopConfig:
    model = "openai/gpt-4o-mini"
    options = dict(model=model, api_base=server.api_base, api_key="k")
    kw.setdefault("max_generations", 3)
    return GenerateLoopConfig(
        domains=[CalculatorDomain()],
        meta_agent=MetaAgent(AgentOptions(**options)),
        task_agent_factory=lambda tools: TaskAgent(AgentOptions(tools=tools, **options)),
        tools=get_framework_tools(),
        output_dir=str(tmp_path / "out"),
        repo_path=str(repo),
        storage=f"sqlite:///{tmp_path / 'db.sqlite'}",
        **kw,
    )


def test_meta_agent_repairs_the_buggy_calculator_and_the_next_generation_scores_one(llm_server, tmp_path,
                                                                                     prefect_harness):
    llm_server.responder = responder(meta_agent_repairs)
    repo = make_repo(tmp_path)
    result = run_generate_loop(config(llm_server, tmp_path, repo))

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
