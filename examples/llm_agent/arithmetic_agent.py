"""An LLM-backed HyperSystem: two LLM stages whose sampling parameters ES trains.

``draft`` asks the model the question, ``polish`` asks it to tidy the draft. Each stage has
its own ``LMParam`` θ (temperature, top_p, penalties, max-tokens scale). The metric is the
token F1 of the answer against the expected one, so a model that rambles when sampled hot
scores low until ES cools it down.

    .venv/bin/hyperfunc train examples/llm_agent/arithmetic_agent.py:ArithmeticAgent   # needs a model
    .venv/bin/python examples/llm_agent/demo.py                              # offline demo
"""

from __future__ import annotations

from hyperfunc_core import ESHybridSystemOptimizer, Example, HyperSystem, LMParam, acall_llm, hyperfunction
from hyperfunc_core.llm import LLMGateway
from hyperfunc_core.testing.sim_models import token_f1


@hyperfunction(hp_type=LMParam, retries=1, timeout_s=60)
async def draft(question: str, hp: LMParam) -> str:
    """Answer the question with the number only."""
    response = await acall_llm(
        [{"role": "system", "content": "Answer with the number only."}, {"role": "user", "content": question}],
        hp,
        max_tokens=16,
    )
    return (response.content or "").strip()


@hyperfunction(hp_type=LMParam, retries=1, timeout_s=60)
async def polish(answer: str, hp: LMParam) -> str:
    """Tidy a draft answer."""
    response = await acall_llm(f"Polish: {answer}", hp, max_tokens=16)
    return (response.content or "").strip()


class ArithmeticAgent(HyperSystem):
    """Question in, tidied answer out: two LLM calls, each with its own sampling θ."""

    def __init__(self, llm: LLMGateway | None = None, **kw) -> None:
        kw.setdefault("system_optimizer", ESHybridSystemOptimizer(steps=8, pop_size=8, sigma=0.3, lr=0.1, seed=0))
        super().__init__(llm=llm, **kw)

    async def run(self, question: str) -> str:
        return await polish(await draft(question))


def f1_metric(preds: list[str], expected: list[str]) -> float:
    """Mean token F1 of the answers (higher is better)."""
    return sum(token_f1(p, e) for p, e in zip(preds, expected)) / len(preds)


PAIRS = [(2, 3), (7, 5), (12, 30), (9, 9), (41, 1), (6, 14)]
TRAIN = [Example({"question": f"What is {a} + {b}?"}, str(a + b)) for a, b in PAIRS]
METRIC = f1_metric
