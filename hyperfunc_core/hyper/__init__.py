"""Hyperfunctions, hp types, HyperSystem, batched population evaluation, tracing and ES training."""

from hyperfunc_core.hyper.hp_types import HPType, LMParam, LoRAWeight, TensorParam
from hyperfunc_core.hyper.hyperfunction import HyperFunction, HyperFunctionError, MaxCallsExceeded, hyperfunction
from hyperfunc_core.hyper.llm_calls import acall_llm, call_llm
from hyperfunc_core.hyper.metrics import MeanOverExamples
from hyperfunc_core.hyper.system import EvaluationError, EvaluationReport, Example, HyperSystem
from hyperfunc_core.hyper.tracing import CallRecord, CallSummary, summarize_calls

__all__ = [
    "CallRecord",
    "CallSummary",
    "EvaluationError",
    "EvaluationReport",
    "Example",
    "HPType",
    "HyperFunction",
    "HyperFunctionError",
    "HyperSystem",
    "LMParam",
    "LoRAWeight",
    "MaxCallsExceeded",
    "MeanOverExamples",
    "TensorParam",
    "acall_llm",
    "call_llm",
    "hyperfunction",
    "summarize_calls",
]
