"""LLM agent: the trial history goes into a prompt, a JSON suggestion comes back.

Suggestions are validated and clipped to the space; the rationale is stored with the
trial. With probability ``exploration_rate``, or whenever the LLM fails or answers
nonsense, the point is drawn at random instead (and the trial says why).
"""

from __future__ import annotations

from typing import Any

from hyperfunc_core.llm.text_protocol import extract_json
from hyperfunc_core.tuning.space import Space
from hyperfunc_core.tuning.strategies.base import Strategy, Suggestion
from hyperfunc_core.tuning.strategies.llm_support import (
    asking,
    coerce_point,
    describe_space,
    history_lines,
    resolve_llm,
)
from hyperfunc_core.validation import InvalidInput


class LLMAgent(Strategy):
    name = "llm_agent"

    def __init__(
        self, space: Space, *, llm: Any = None, max_history: int = 20, exploration_rate: float = 0.3, **kw
    ) -> None:
        super().__init__(space, **kw)
        if not 0.0 <= float(exploration_rate) <= 1.0:
            raise InvalidInput(
                f"strategy_kwargs['exploration_rate']: expected a number in [0, 1], got {exploration_rate!r}"
            )
        if not isinstance(max_history, int) or max_history < 1:
            raise InvalidInput(f"strategy_kwargs['max_history']: expected an integer >= 1, got {max_history!r}")
        self.llm = resolve_llm(llm)
        self.max_history = max_history
        self.exploration_rate = float(exploration_rate)
        self.llm_calls = 0
        self.llm_failures = 0

    def prompt(self) -> str:
        best = self.best(1)
        lines = [
            f"We are tuning hyperparameters to {'maximise' if self.mode == 'max' else 'minimise'} a metric.",
            f"Search space (name: definition): {describe_space(self.space)}",
            f"Most recent trials: {history_lines(self.trials, self.max_history)}",
            f"Best so far: {best[0].params if best else 'none yet'} with value {best[0].value if best else 'n/a'}",
        ]
        if self.running:  # concurrent asks: say what is already being tried
            lines.append(f"Running now, results pending (propose something else): {list(self.running.values())}")
        lines += [
            "Analyse the pattern and propose the next configuration to try.",
            'Answer with JSON: {"params": {<every parameter name>: <value>}, "rationale": "<one or two sentences>"}',
        ]
        return "\n".join(lines)

    def ask(self) -> Suggestion:
        if self.trials and self.rng.random() < self.exploration_rate:
            return Suggestion(self.space.sample(self.rng), info={"source": "exploration"})
        self.llm_calls += 1
        cost: dict = {}
        try:
            answer = extract_json(asking(self.llm, self.prompt(), cost))
            raw = answer.get("params", answer) if isinstance(answer, dict) else answer
            params, notes = coerce_point(self.space, raw, self.rng)
            rationale = answer.get("rationale", "") if isinstance(answer, dict) else ""
            return Suggestion(params, info={"source": "llm", "rationale": str(rationale), "notes": notes, **cost})
        except Exception as exc:  # noqa: BLE001 - any LLM failure falls back to random
            self.llm_failures += 1
            return Suggestion(
                self.space.sample(self.rng),
                info={"source": "fallback", "fallback_reason": f"{type(exc).__name__}: {exc}"[:300], **cost},
            )
