"""Domains: the Domain interface, the harness, evaluators and the built-in task sets."""

from hyperfunc_core.domains.base import Domain, DomainConfig, DomainTask, EvalResult, JsonTasksDomain, ReportSummary
from hyperfunc_core.domains.builtin import BUILTIN_DOMAINS, BashDomain, CalculatorDomain, get_domain
from hyperfunc_core.domains.evaluators import human_feedback_evaluator, llm_judge_evaluator, static_evaluator
from hyperfunc_core.domains.harness import run_harness

__all__ = [
    "BUILTIN_DOMAINS",
    "BashDomain",
    "CalculatorDomain",
    "Domain",
    "DomainConfig",
    "DomainTask",
    "EvalResult",
    "JsonTasksDomain",
    "ReportSummary",
    "get_domain",
    "human_feedback_evaluator",
    "llm_judge_evaluator",
    "run_harness",
    "static_evaluator",
]
