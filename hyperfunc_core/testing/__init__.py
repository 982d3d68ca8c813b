"""Test helpers that benchmarks and offline examples use too."""

from hyperfunc_core.testing.llm_server import (
    RecordedRequest,
    Reply,
    ScriptedLLMServer,
    error,
    malformed,
    text,
    tool_call,
    tool_calls,
)
from hyperfunc_core.testing.pacing import assert_paced

__all__ = [
    "RecordedRequest",
    "Reply",
    "ScriptedLLMServer",
    "assert_paced",
    "error",
    "malformed",
    "text",
    "tool_call",
    "tool_calls",
]
