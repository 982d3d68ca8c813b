"""Which model a run uses when its caller names none (``model_choice``); the local model's branch runs
against the real server in tests/test_local_model.py. No local model is installed where these run
(conftest leaves none)."""

from __future__ import annotations

import urllib.request

from hyperfunc_core import local_model
from hyperfunc_core.model_choice import CONFIGURED, SCRIPTED, chosen_model


def test_a_named_model_is_used_as_it_is_and_nothing_is_said():
    said: list[str] = []
    with chosen_model("ollama/llama3.2", "http://127.0.0.1:11434", say=said.append) as choice:
        assert choice.kind == CONFIGURED
        assert choice.options == {"model": "ollama/llama3.2", "api_base": "http://127.0.0.1:11434"}
    assert said == []


def test_with_no_model_and_no_local_one_the_scripted_model_is_used_only_where_allowed_and_said():
    assert not local_model.available()
    said: list[str] = []
    with chosen_model(scripted_fallback=True, say=said.append) as choice:
        assert choice.kind == SCRIPTED
        with urllib.request.urlopen(choice.options["api_base"] + "/models", timeout=5) as answer:
            assert answer.status == 200  # the scripted server runs for the block's length
    assert "SCRIPTED OFFLINE MODEL" in said[0] and "scripts/setup.sh --local" in said[0]

    said.clear()
    with chosen_model(say=said.append) as choice:  # evolving a user's agent: never the scripted model
        assert choice.kind == CONFIGURED and choice.options == {}  # the default, whose key a run checks first
    assert said == []


def test_offline_chooses_the_scripted_model_even_over_a_named_one():
    with chosen_model("openai/gpt-4o-mini", offline=True, say=lambda text: None) as choice:
        assert choice.kind == SCRIPTED and choice.options["model"] != "openai/gpt-4o-mini"
