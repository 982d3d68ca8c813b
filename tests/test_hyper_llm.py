"""LLM-backed hyperfunctions against the scripted server: θ → request, stages, limits, 429s, ES."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import pytest
import torch

from hyperfunc_core import Example, HyperSystem, LMParam, call_llm, hyperfunction
from hyperfunc_core.llm import LLMGateway
from hyperfunc_core.testing import assert_paced, error
from hyperfunc_core.testing.sim_models import arithmetic_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "llm_agent"))
from arithmetic_agent import TRAIN, ArithmeticAgent, f1_metric  # noqa: E402


def gateway(server, **kw) -> LLMGateway:
    kw.setdefault("max_concurrency", 32)
    return LLMGateway(
        "openai/scripted", api_base=server.api_base, api_key="k", backoff_base_s=0.02, backoff_max_s=0.1, **kw
    )


def population(system: HyperSystem, n: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    base = system.get_hp_state()
    return [{k: v + 0.3 * torch.randn(v.shape, generator=gen) for k, v in base.items()} for _ in range(n)]


def test_lmparam_theta_becomes_the_requests_sampling(llm_server):
    llm_server.responder = arithmetic_model

    @hyperfunction(hp_type=LMParam)
    def ask(question, hp):
        return call_llm(question, hp, max_tokens=100).content

    class S(HyperSystem):
        def run(self, question):
            return ask(question)

    s = S(llm=gateway(llm_server))
    s.register_hyperfunction(
        ask, LMParam(temperature=0.25, top_p=0.5, presence_penalty=-0.5, frequency_penalty=0.75, max_tokens_scale=0.3)
    )
    s.evaluate([Example({"question": "What is 1 + 2?"}, "3")], f1_metric, collect_trace=True)
    body = llm_server.chat_requests()[-1].body
    assert (
        body["temperature"],
        body["top_p"],
        body["presence_penalty"],
        body["frequency_penalty"],
        body["max_tokens"],
    ) == (0.25, 0.5, -0.5, 0.75, 30)
    (record,) = s.call_history()
    assert (
        record.meta["llm_requests"] == 1 and record.meta["prompt_tokens"] > 0 and record.meta["completion_tokens"] > 0
    )

    s.set_hp_state({"ask": torch.tensor([9.0, -3.0, 7.0, -7.0, 100.0])})  # out of range: clamped, still a legal request
    s.evaluate([Example({"question": "What is 1 + 2?"}, "3")], f1_metric)
    body = llm_server.chat_requests()[-1].body
    assert (
        body["temperature"],
        body["top_p"],
        body["presence_penalty"],
        body["frequency_penalty"],
        body["max_tokens"],
    ) == (2.0, 0.01, 2.0, -2.0, 400)
    with pytest.raises(ValueError, match="hp: expected the LMParam"):
        call_llm("hi", hp=torch.zeros(5), gateway=gateway(llm_server))
    with pytest.raises(ValueError, match="max_tokens: expected a positive integer"):
        call_llm("hi", max_tokens=0, gateway=gateway(llm_server))


def test_population_calls_go_out_concurrently_grouped_per_stage(llm_server):
    llm_server.responder = lambda body: arithmetic_model(body, delay_s=0.05)
    agent = ArithmeticAgent(llm=gateway(llm_server, max_concurrency=8))
    examples = TRAIN[:3]
    agent.discover(examples)
    llm_server.reset()
    llm_server.responder = lambda body: arithmetic_model(body, delay_s=0.05)
    cands = population(agent, 4)
    errors: list = []
    scores = agent.evaluate_population(cands, examples, f1_metric, errors=errors, collect_trace=True)
    assert errors == [None] * 4 and all(math.isfinite(s) for s in scores)

    arrivals = sorted(llm_server.chat_requests(), key=lambda r: r.time)
    kinds = ["polish" if r.last_user_text.startswith("Polish:") else "draft" for r in arrivals]
    assert kinds == ["draft"] * 12 + ["polish"] * 12  # every stage-1 call before any stage-2 call
    assert llm_server.peak_in_flight == 8  # concurrent, and no more than the bound

    records = agent.call_history()
    assert len(records) == 24 and {r.candidate_index for r in records} == {0, 1, 2, 3}
    assert {(r.hyperfunction, r.meta["stage"], r.meta["stage_calls"]) for r in records} == {
        ("draft", 1, 12),
        ("polish", 2, 12),
    }
    assert agent.last_evaluation().candidate_scores == scores
    # each candidate's score equals evaluating it alone
    for cand, score in zip(cands[:2], scores[:2]):
        agent.set_hp_state(cand)
        assert agent.evaluate(examples, f1_metric) == pytest.approx(score)


def test_requests_per_minute_holds_at_the_server(llm_server):
    llm_server.responder = arithmetic_model
    agent = ArithmeticAgent(llm=gateway(llm_server, requests_per_minute=600))  # one request start per 0.1 s
    agent.discover(TRAIN[:1])
    llm_server.reset()
    llm_server.responder = arithmetic_model
    agent.llm.pacer.recent_starts.clear()
    agent.evaluate_population(population(agent, 4), TRAIN[:2], f1_metric)
    assert_paced(agent.llm.pacer.recent_starts, [r.time for r in llm_server.chat_requests()], n=16, interval=0.1)


def test_a_429_storm_slows_the_run_but_loses_no_score(llm_server):
    agent = ArithmeticAgent(llm=gateway(llm_server, max_retries=8))
    agent.discover(TRAIN[:1])
    cands = population(agent, 6, seed=3)
    llm_server.reset()
    llm_server.responder = arithmetic_model
    calm = agent.evaluate_population(cands, TRAIN[:4], f1_metric)

    storm_left = {"n": 40}

    def stormy(body):
        if storm_left["n"] > 0:
            storm_left["n"] -= 1
            return error(429, "rate limited", retry_after=0.05)
        return arithmetic_model(body)

    llm_server.reset()
    llm_server.responder = stormy
    failed_before = agent.llm.usage.failed_attempts
    errors: list = []
    started = time.perf_counter()
    stormy_scores = agent.evaluate_population(cands, TRAIN[:4], f1_metric, errors=errors, collect_trace=True)
    storm_s = time.perf_counter() - started

    assert stormy_scores == calm and errors == [None] * 6  # no candidate lost its score
    statuses = [r.status for r in llm_server.chat_requests()]
    assert statuses.count(429) == 40 and statuses.count(200) == 6 * 4 * 2
    assert agent.llm.usage.failed_attempts - failed_before == 40
    records = agent.call_history()
    assert sum(r.meta["llm_attempts"] for r in records) == 48 + 40  # the retries show on the call records
    # Each 429 asked for a 0.05 s wait, and the same request came back no sooner. (The test compared
    # the storm's wall time with the calm run's, which was flaky under load.)
    requests = llm_server.chat_requests()
    for i, refused in enumerate(requests):
        if refused.status == 429:
            assert any(r.body == refused.body and r.time - refused.time >= 0.045 for r in requests[i + 1 :])
    assert storm_s >= 0.05


@pytest.mark.slow
def test_es_improves_a_metric_that_depends_on_the_sampling(llm_server, prefect_harness):
    llm_server.responder = arithmetic_model
    agent = ArithmeticAgent(llm=gateway(llm_server))
    before = agent.evaluate(TRAIN, f1_metric)
    result = agent.optimize(TRAIN, f1_metric, steps=8, run_name="llm-es-improves")
    after = agent.evaluate(TRAIN, f1_metric)
    assert before == pytest.approx(0.4)  # temperature 0.7, top_p 1.0: three filler words per answer
    assert after >= 0.9 and result["train_score"] == pytest.approx(after)
    trained = LMParam.from_tensor(agent.get_hp_state()["draft"])
    assert 4 * trained.temperature * trained.top_p < 1.5  # what the score depends on went down


def test_a_failing_candidate_is_recorded_and_the_population_goes_on(llm_server):
    def picky(body):
        return error(400, "bad request") if body.get("temperature", 0) > 1.0 else arithmetic_model(body)

    llm_server.responder = picky
    agent = ArithmeticAgent(llm=gateway(llm_server))
    agent.discover(TRAIN[:1])
    hot = {n: torch.tensor([1.5, 1.0, 0.0, 0.0, 1.0]) for n in ("draft", "polish")}
    cool = {n: torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0]) for n in ("draft", "polish")}
    errors: list = []
    scores = agent.evaluate_population([hot, cool], TRAIN[:2], f1_metric, errors=errors)
    assert scores[0] == -math.inf and "HTTP 400" in errors[0]
    assert scores[1] == 1.0 and errors[1] is None
    # the gateway does not retry a 400; the hyperfunction's retries=1 re-runs the body once: 2 requests per example
    assert [r.status for r in llm_server.chat_requests()].count(400) == 2 * 2
