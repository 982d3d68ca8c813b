"""Scripted models whose answers depend on the request's sampling parameters.

They stand in for a real LLM where ES must have something to learn (tests, offline demos
and benchmarks): a hotter, wider sampling rambles, so the answer carries more stray words.
Answers are deterministic functions of the request, so scores are reproducible.
"""

from __future__ import annotations

import re

from hyperfunc_core.testing.llm_server import Reply, text

FILLER = ("well", "perhaps", "roughly", "maybe", "so", "hmm", "indeed", "anyway")
_SUM = re.compile(r"(-?\d+)\s*\+\s*(-?\d+)")


def rambling_words(body: dict) -> int:
    """How many filler words the simulated model adds: 4 × temperature × top_p, rounded."""
    temperature = float(body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0)
    top_p = float(body.get("top_p", 1.0) if body.get("top_p") is not None else 1.0)
    return int(round(4.0 * max(0.0, temperature) * max(0.0, top_p)))


def arithmetic_model(body: dict, delay_s: float = 0.0) -> Reply:
    """Answers the last ``A + B`` in the prompt with the sum, plus filler words that grow with
    temperature and top_p; a second-stage "polish" prompt (one that starts with ``Polish:``)
    echoes the draft it was given, keeping its words (so a rambling draft stays rambling)."""
    prompt = ""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            prompt = message.get("content") if isinstance(message.get("content"), str) else ""
            break
    if prompt.startswith("Polish:"):
        return text(prompt[len("Polish:") :].strip() or "?", delay_s=delay_s)
    found = _SUM.findall(prompt)
    if not found:
        return text("I cannot tell.", delay_s=delay_s)
    a, b = found[-1]
    words = [str(int(a) + int(b))] + [FILLER[i % len(FILLER)] for i in range(rambling_words(body))]
    return text(" ".join(words), delay_s=delay_s)


def token_f1(prediction: str, expected: str) -> float:
    """Token-level F1 between two answers (SQuAD-style, without normalisation beyond case)."""
    pred, gold = str(prediction).lower().split(), str(expected).lower().split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum(min(pred.count(w), gold.count(w)) for w in set(gold))
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)
