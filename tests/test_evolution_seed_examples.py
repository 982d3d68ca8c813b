"""The HyperFlow concepts document's code examples, run with only the import line changed
(``from hyperflow import`` -> ``from hyperfunc_core import``)."""

from __future__ import annotations

import asyncio

import pytest
from evolution_scripts import make_repo


@pytest.fixture
def judge_settings(llm_server, monkeypatch):
    """The default gateway (used by llm_judge_evaluator) pointed at the scripted server."""
    from hyperfunc_core.hyper.llm_calls import default_gateway
    from hyperfunc_core.settings import get_settings

    monkeypatch.setenv("HYPERFUNC_LLM_API_BASE", llm_server.api_base)
    monkeypatch.setenv("HYPERFUNC_LLM_API_KEY", "k")
    get_settings.cache_clear()
    default_gateway.cache_clear()
    yield llm_server
    get_settings.cache_clear()
    default_gateway.cache_clear()


def test_configuration_prompt_files_and_executor_examples(tmp_path, monkeypatch, llm_server):
    repo = make_repo(tmp_path)
    monkeypatch.chdir(repo)
    from hyperfunc_core.domains import CalculatorDomain

    namespace = {"my_domain": CalculatorDomain(), "model": "openai/gpt-4o-mini"}
    exec(
        "from hyperfunc_core import MetaAgent, TaskAgent, AgentOptions, get_framework_tools\n"
        "meta_agent = MetaAgent(AgentOptions(model=model))",
        namespace,
    )
    exec(
        """
from hyperfunc_core import GenerateLoopConfig

config = GenerateLoopConfig(
    domains=[my_domain],                # What tasks to evaluate on
    meta_agent=meta_agent,              # The MetaAgent instance
    task_agent_factory=lambda t: TaskAgent(AgentOptions(model=model, tools=t)),
    tools=get_framework_tools(),        # bash + editor
    output_dir="./outputs/evolution",   # Where to store everything
    repo_path=".",                      # The codebase to modify
    max_generations=5,                  # How many iterations
    execution_mode="local",             # "local" or "docker"
    parent_selection="score_child_prop",# Which selection strategy
    eval_samples=10,                    # How many tasks per eval
)
""",
        namespace,
    )
    config = namespace["config"]
    assert config.max_generations == 5 and config.parent_selection == "score_child_prop"
    agent = config.task_agent_factory(CalculatorDomain().tools(None))
    assert [t.name for t in agent.options.tools] == ["calculate"]

    exec(
        """
from hyperfunc_core import create_executor

executor = create_executor("local", {"repoPath": ".", "baseCommit": "HEAD"})
""",
        namespace,
    )
    executor = namespace["executor"]
    executor.setup([])
    try:
        assert (executor.get_workdir().endswith("/repo")) and executor.diff() == ""
    finally:
        executor.cleanup()

    (repo / "prompts").mkdir()
    exec(
        """
from hyperfunc_core import MetaAgent, TaskAgent, AgentOptions

# Option 1: Pass prompt_file directly to agents
meta_agent = MetaAgent(AgentOptions(model=model, prompt_file="./prompts/meta_agent.txt"))
task_agent = TaskAgent(AgentOptions(model=model, prompt_file="./prompts/task_agent.txt"))

# Option 2: Use prompts_dir in the generate loop (auto-scaffolds files)
config = GenerateLoopConfig(
    domains=[my_domain], meta_agent=meta_agent, task_agent_factory=lambda t: TaskAgent(AgentOptions(model=model, tools=t)),
    prompts_dir="./prompts",  # creates meta_agent.txt + task_agent.txt
)
""",
        {**namespace, "GenerateLoopConfig": namespace["GenerateLoopConfig"]},
    )


def test_evaluator_examples(judge_settings):
    from hyperfunc_core.testing import text

    judge_settings.push(text("0.85"))
    namespace: dict = {}
    exec("from hyperfunc_core import static_evaluator, llm_judge_evaluator, human_feedback_evaluator", namespace)
    assert eval('static_evaluator("42", "42")', namespace) == 1.0
    assert eval('static_evaluator("42", "43")', namespace) == 0.0
    assert eval('static_evaluator(" 42 ", "42")', namespace) == 1.0
    coro = eval(
        """llm_judge_evaluator("Good summary of the article", {
    "description": "Summarize this article",
    "rubric": "Score based on completeness and accuracy",
})""",
        namespace,
    )
    assert asyncio.run(coro) == 0.85
    assert "Score based on completeness" in judge_settings.chat_requests()[-1].last_user_text
    assert eval("human_feedback_evaluator(4 / 5)", namespace) == 0.8


def test_single_eval_example_writes_predictions_and_report(llm_server, tmp_path):
    """The seed's 'single eval' mode: the harness once, no archive."""
    import json

    from evolution_scripts import task_agent

    from hyperfunc_core import AgentOptions, TaskAgent, run_harness
    from hyperfunc_core.domains import CalculatorDomain

    llm_server.responder = task_agent
    domain = CalculatorDomain()
    agent = TaskAgent(
        AgentOptions(model="openai/gpt-4o-mini", api_base=llm_server.api_base, api_key="k", tools=domain.tools(None))
    )
    summary = asyncio.run(run_harness(domain, agent, tmp_path / "calculator_eval", num_samples=6))
    assert summary.average_score == 0.5 and summary.n == 6  # the six hand-written tasks come first
    predictions = json.loads((tmp_path / "calculator_eval/predictions.json").read_text())
    assert {p["questionId"] for p in predictions} == {"c1", "c2", "c3", "c4", "c5", "c6"}
    assert json.loads((tmp_path / "calculator_eval/report.json").read_text())["averageScore"] == 0.5
    assert not (tmp_path / "archive.jsonl").exists()
