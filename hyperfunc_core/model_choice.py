"""Which model a run uses when its caller names none, said out loud before any work starts:

1. the configured one: ``--model`` (or ``model=``), ``HYPERFUNC_MODEL`` or ``HYPERFUNC_LLM_API_BASE``;
2. else the local model, when ``scripts/setup.sh --local`` installed it: the server ``hyperfunc model
   serve`` keeps, or one served for the run's length (``local_model``); nothing to pay, no key;
3. else, only where the caller allows it (the demo and the examples that must run on a fresh machine),
   the scripted offline model. Everywhere else the settings' default model is used, which needs its
   provider's key: an agent is never evolved against a scripted model by accident.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

CONFIGURED, LOCAL, SCRIPTED = "configured", "local", "scripted"


@dataclass
class ModelChoice:
    """The chosen model: ``kind``, and the ``options`` (model, api_base, api_key) that reach it, for
    ``AgentOptions`` or ``evolve_domain``; empty options mean the settings' own."""

    kind: str
    options: dict = field(default_factory=dict)
    description: str = ""


def model_is_configured() -> bool:
    """True when the settings name a model or an endpoint, not just the built-in default model."""
    from hyperfunc_core.settings import get_settings

    return bool({"model", "llm_api_base"} & get_settings().model_fields_set)


@contextmanager
def chosen_model(
    model: str | None = None,
    api_base: str | None = None,
    *,
    offline: bool = False,
    scripted_fallback: bool = False,
    say: Callable[[str], None] = print,
) -> Iterator[ModelChoice]:
    """The model for one run (see the module's order); a local or scripted server lives as long as the
    ``with`` block. ``offline`` chooses the scripted model outright (tests, ``hyperfunc demo --offline``)."""
    from hyperfunc_core import local_model
    from hyperfunc_core.settings import get_settings

    if offline:
        with _scripted() as choice:
            yield choice
        return
    if model is not None or api_base is not None or model_is_configured():
        options = {k: v for k, v in (("model", model), ("api_base", api_base)) if v is not None}
        yield ModelChoice(CONFIGURED, options, options.get("model") or get_settings().model)
        return
    if local_model.available():
        gguf = local_model.chosen_gguf()
        speed = local_model.last_speed().get("tokens_per_s")
        measured = f", {speed} tokens/s measured" if speed else ""
        kept = local_model.running()
        where = f"by `hyperfunc model serve` at {kept.api_base}" if kept else "on 127.0.0.1 for this run"
        say(
            f"No model is configured: using the LOCAL MODEL {gguf.name} ({gguf.stat().st_size / 1e6:.0f} MB"
            f"{measured}) served {where}. For a hosted one: export HYPERFUNC_MODEL=... and its key."
        )
        with kept or local_model.start_server(log=local_model.home() / "server.log") as server:
            yield ModelChoice(LOCAL, server.gateway_options(), f"the local model {gguf.name}")
        return
    if scripted_fallback:
        say(
            "No model is configured and no local model is installed: the SCRIPTED OFFLINE MODEL plays the "
            "MetaAgent and the TaskAgent. For a real one: scripts/setup.sh --local (a small model on this "
            "machine), or export HYPERFUNC_MODEL=openai/gpt-4o-mini (any litellm model string) and its key."
        )
        with _scripted() as choice:
            yield choice
        return
    # Said only when it fails: a run checks the default model's key before any work (LLMGateway).
    yield ModelChoice(CONFIGURED, {}, get_settings().model)


@contextmanager
def _scripted() -> Iterator[ModelChoice]:
    from hyperfunc_core.testing.scripted_agents import offline_model

    with offline_model() as options:
        yield ModelChoice(SCRIPTED, options, "the scripted offline model")
