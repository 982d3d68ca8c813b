"""LLM calls from inside hyperfunctions: an ``LMParam`` θ becomes the request's sampling.

A hyperfunction whose body calls an LLM::

    @hyperfunction(hp_type=LMParam)
    async def answer(question: str, hp: LMParam) -> str:
        response = await acall_llm(question, hp, max_tokens=64)
        return response.content

``acall_llm``/``call_llm`` send the call through the gateway of the ``HyperSystem`` that
runs it (``HyperSystem(llm=LLMGateway(...))``; by default one gateway built from the
settings), so every candidate of an ES population shares one concurrency bound and one
requests-per-minute pace, and the call's tokens and cost land on its ``CallRecord``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from hyperfunc_core.hyper.hp_types import LMParam
from hyperfunc_core.hyper.runtime import active, call_meter
from hyperfunc_core.llm import LLMGateway, LLMResponse
from hyperfunc_core.validation import InvalidInput


@lru_cache(maxsize=1)
def default_gateway() -> LLMGateway:
    """The gateway for LLM calls made outside any system (built once from the settings)."""
    return LLMGateway()


def call_llm(
    messages: list[dict] | str,
    hp: LMParam | None = None,
    *,
    max_tokens: int | None = None,
    gateway: LLMGateway | None = None,
    **params: Any,
) -> LLMResponse:
    """One completion with ``hp``'s sampling parameters (``params`` override them)."""
    gw = _gateway(gateway)
    response = gw.complete(messages, **_sampling(hp, max_tokens, params))
    _meter(response)
    return response


async def acall_llm(
    messages: list[dict] | str,
    hp: LMParam | None = None,
    *,
    max_tokens: int | None = None,
    gateway: LLMGateway | None = None,
    **params: Any,
) -> LLMResponse:
    """The async twin of ``call_llm``: what population evaluation sends concurrently."""
    gw = _gateway(gateway)
    response = await gw.acomplete(messages, **_sampling(hp, max_tokens, params))
    _meter(response)
    return response


def _gateway(gateway: LLMGateway | None) -> LLMGateway:
    if gateway is not None:
        if not isinstance(gateway, LLMGateway):
            raise InvalidInput(f"gateway: expected an LLMGateway or None, got {gateway!r}")
        return gateway
    inv = active()
    if inv is not None and inv.owner is not None:
        return inv.owner.llm
    return default_gateway()


def _sampling(hp: LMParam | None, max_tokens: int | None, params: dict) -> dict:
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise InvalidInput(f"max_tokens: expected a positive integer or None, got {max_tokens!r}")
    if hp is None:
        base = {"max_tokens": max_tokens} if max_tokens is not None else {}
    elif isinstance(hp, LMParam):
        base = hp.completion_kwargs(max_tokens)
    else:
        raise InvalidInput(f"hp: expected the LMParam a hyperfunction received (hp_type=LMParam) or None, got {hp!r}")
    return {**base, **params}


def _meter(response: LLMResponse) -> None:
    meter = call_meter()
    if meter is None:
        return
    meter["llm_requests"] = meter.get("llm_requests", 0) + 1
    meter["llm_attempts"] = meter.get("llm_attempts", 0) + response.attempts
    meter["prompt_tokens"] = meter.get("prompt_tokens", 0) + response.usage.prompt_tokens
    meter["completion_tokens"] = meter.get("completion_tokens", 0) + response.usage.completion_tokens
    meter["cost_usd"] = meter.get("cost_usd", 0.0) + response.cost_usd
