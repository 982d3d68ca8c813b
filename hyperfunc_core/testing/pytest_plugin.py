"""Pytest fixtures that hyperfunc provides to any project that installs it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hyperfunc_core.testing.llm_server import ScriptedLLMServer


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLMServer]:
    """A scripted OpenAI-compatible server on 127.0.0.1, stopped after the test."""
    with ScriptedLLMServer() as server:
        yield server


@pytest.fixture
def llm_gateway(llm_server: ScriptedLLMServer):
    """A gateway pointed at ``llm_server`` with fast back-off, for tests."""
    from hyperfunc_core.llm import LLMGateway

    return LLMGateway(
        "openai/gpt-4o-mini", api_base=llm_server.api_base, api_key="test-key", backoff_base_s=0.01, backoff_max_s=0.05
    )
