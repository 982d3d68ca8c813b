"""The built-in domains' tasks: enough of them, split three ways, and every generated answer right.

Each generated task carries ``metadata.check``, from which its answer is recomputed here without
reading ``expected``: an arithmetic expression, a reference bash command (run by the bash domain's
own scorer), a statement's truth as an expression, or a paper's features under the reviewing rule.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from hyperfunc_core.concurrency import run_coroutine
from hyperfunc_core.domains import BUILTIN_DOMAINS, get_domain

SPLITS = ("train", "validation", "test")


def tasks_of(name: str):
    domain = get_domain(name)
    return domain, [t for split in SPLITS for t in run_coroutine(domain.load_tasks(split))]


def checked(tasks):
    return [t for t in tasks if "check" in t.metadata]


@pytest.mark.parametrize("name", BUILTIN_DOMAINS)
def test_each_domain_has_sixty_checked_tasks_split_three_ways(name):
    domain, tasks = tasks_of(name)
    sizes = domain.split_sizes()
    assert set(sizes) == set(SPLITS) and sum(sizes.values()) == len(tasks) >= 66
    assert sizes["validation"] >= 15 and sizes["test"] >= 15
    assert len({t.id for t in tasks}) == len(tasks)
    assert len(checked(tasks)) >= 60


def test_calculator_answers():
    _, tasks = tasks_of("calculator")
    for task in checked(tasks):
        check = task.metadata["check"]
        assert re.fullmatch(r"[\d\s+\-*/]+", check), check
        assert all(n in task.inputs["problem"] for n in re.findall(r"\d+", check)), task.id
        assert float(eval(check)) == pytest.approx(float(task.expected)), task.id  # noqa: S307


def test_bash_answers_are_what_a_reference_command_prints_through_the_domains_own_scorer():
    domain, tasks = tasks_of("bash")
    for task in checked(tasks):
        assert run_coroutine(domain.evaluate(task.metadata["check"], task)) == 1.0, task.id
        assert run_coroutine(domain.evaluate("echo wrong", task)) == 0.0, task.id


def _value(answer: str) -> Fraction:
    answer = answer.strip().rstrip("%")
    return Fraction(answer)


def test_scoring_accepts_exactly_the_answers_equal_to_the_question():
    _, tasks = tasks_of("scoring")
    verdicts = set()
    for task in checked(tasks):
        right = Fraction(eval(task.metadata["check"], {"Fraction": Fraction}))  # noqa: S307
        verdict = "accept" if _value(task.inputs["student_answer"]) == right else "reject"
        assert verdict == task.expected, task.id
        verdicts.add(verdict)
    assert verdicts == {"accept", "reject"}


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def test_factcheck_statements_are_as_true_as_their_checks():
    _, tasks = tasks_of("factcheck")
    truths = set()
    for task in checked(tasks):
        truth = bool(eval(task.metadata["check"], {"is_prime": _is_prime, "Fraction": Fraction}))  # noqa: S307
        assert ("true" if truth else "false") == task.expected, task.id
        numbers = re.findall(r"\d+", task.metadata["check"].replace("3600", "").replace("24 ==", "=="))
        assert all(n in task.inputs["statement"] for n in numbers if n not in ("2", "100", "0")), task.id
        truths.add(truth)
    assert truths == {True, False}


def _features(abstract: str) -> dict:
    """What the generated abstract says, read back from its text."""
    benchmarks = re.search(r"Experiments on (\d+) benchmarks", abstract)
    return {
        "proof": "We prove" in abstract,
        "baselines": "against strong baselines" in abstract,
        "benchmarks": int(benchmarks.group(1)) if benchmarks else 0,
        "code": "Code is released." in abstract,
    }


def test_paper_review_follows_the_reviewing_rule_read_from_each_abstract():
    """Accept a proof backed by experiments, or a study against baselines on 3+ benchmarks with code."""
    _, tasks = tasks_of("paper_review")
    for task in checked(tasks):
        features = _features(task.inputs["abstract"])
        assert features == task.metadata["check"], task.id
        accept = (features["proof"] and features["benchmarks"] >= 1) or (
            features["baselines"] and features["benchmarks"] >= 3 and features["code"]
        )
        assert ("accept" if accept else "reject") == task.expected, task.id
