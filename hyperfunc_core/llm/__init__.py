"""The LLM gateway: every LLM call in hyperfunc goes through ``LLMGateway``."""

from hyperfunc_core.llm.gateway import (
    BudgetExceededError,
    LLMError,
    LLMGateway,
    LLMResponse,
    ToolCall,
    Usage,
    UsageTotals,
    tally,
)
from hyperfunc_core.llm.pacing import ConcurrencyBound, RequestPacer

__all__ = [
    "BudgetExceededError",
    "ConcurrencyBound",
    "LLMError",
    "LLMGateway",
    "LLMResponse",
    "RequestPacer",
    "ToolCall",
    "Usage",
    "UsageTotals",
    "tally",
]
