"""The built-in domains: their task sets load and their evaluators score what they should."""

from __future__ import annotations

import asyncio

import pytest

from hyperfunc_core.domains import BUILTIN_DOMAINS, DomainTask, get_domain
from hyperfunc_core.executors.commands import CommandTimeout


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("name", BUILTIN_DOMAINS)
def test_every_builtin_domain_loads_its_tasks_and_scores_the_expected_answer(name):
    domain = get_domain(name)
    tasks = run(domain.load_tasks("train"))
    assert len(tasks) >= 6 and len({t.id for t in tasks}) == len(tasks)
    assert run(domain.load_tasks("train", 2)) == tasks[:2]
    for task in tasks:
        assert domain.format_input(task)
        answer = {"bash": None}.get(name, task.expected)
        if name == "bash":
            continue
        assert run(domain.evaluate(answer, task)) == 1.0
        assert run(domain.evaluate("certainly not the answer", task)) == 0.0
    with pytest.raises(ValueError, match="no .* tasks in split 'holdout'"):
        run(domain.load_tasks("holdout"))


def test_bash_predictions_run_and_their_output_is_compared(tmp_path):
    domain = get_domain("bash")
    tasks = {t.id: t for t in run(domain.load_tasks("train"))}
    right = {
        "hello": "echo hello world",
        "count": "seq 1 5",
        "upper": "echo shout | tr a-z A-Z",
        "sum": "echo $((17 + 25))",
        "lines": "printf 'a\\nb\\nc\\n' | wc -l",
        "reverse": "echo stressed | rev",
    }
    for task_id, command in right.items():
        assert run(domain.evaluate(f"```bash\n{command}\n```", tasks[task_id])) == 1.0, task_id
    assert run(domain.evaluate("echo hello", tasks["hello"])) == 0.0
    domain.bind_workspace(tmp_path)
    (tmp_path / "greeting.txt").write_text("hello world\n")
    assert run(domain.evaluate("cat greeting.txt", tasks["hello"])) == 1.0  # runs in the bound workspace
    domain.timeout_s = 0.5
    assert run(domain.evaluate("sleep 3; echo hello world", tasks["hello"])) == 0.0


def test_the_shipped_calculator_tool_is_buggy_and_a_workspace_copy_wins(tmp_path):
    domain = get_domain("calculator")
    (calc,) = domain.tools(None)
    assert run(calc.acall({"expression": "12 + 30"})) == "42"
    assert run(calc.acall({"expression": "6 * 7"})) == "13"  # the deliberate bug
    (tmp_path / "calculator_tool.py").write_text("def calculate(expression):\n    return 'patched'\n")
    (patched,) = domain.tools(tmp_path)
    assert run(patched.acall({"expression": "6 * 7"})) == "patched"
    (tmp_path / "calculator_tool.py").write_text("def calculate(expression):\n    return 1 / 0\n")
    assert "ZeroDivisionError" in run(patched.acall({"expression": "6 * 7"}))  # the model reads the error
    (tmp_path / "calculator_tool.py").write_text("import time\ndef calculate(expression):\n    time.sleep(30)\n")
    domain.tool_timeout_s = 0.5
    with pytest.raises(CommandTimeout, match="ran past 0.5 s and was killed"):
        run(patched.acall({"expression": "6 * 7"}))
    assert run(domain.evaluate("42.0", DomainTask("x", {}, "42"))) == 1.0
    with pytest.raises(ValueError, match="domain: expected one of"):
        get_domain("chess")
