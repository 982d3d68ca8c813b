"""Writes the built-in domains' task files (``hyperfunc_core/domains/data/*.json``): the hand-written
tasks each domain started with (kept first, in train) and generated ones split train / validation /
test, so evolution can be judged on tasks the MetaAgent never saw.

Every generated task carries ``metadata.check``: what ``tests/test_domain_tasks.py`` recomputes its
answer from (an arithmetic expression, a reference bash command, a paper's features), independently
of ``expected``. Deterministic: ``python scripts/make_domain_tasks.py`` rewrites the same files.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "hyperfunc_core" / "domains" / "data"
GENERATED = 60  # per domain, beside the hand-written ones
SPLITS = {"train": 0.4, "validation": 0.3, "test": 0.3}  # of the generated tasks, shuffled


def number_text(value: Fraction | float | int) -> str:
    value = Fraction(value).limit_denominator(1000)
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def calculator(rng: random.Random, i: int) -> dict:
    a, b, c = rng.randint(2, 40), rng.randint(2, 25), rng.randint(1, 30)
    kind = i % 8
    if kind == 0:
        problem, check = f"What is {a} times {b}?", f"{a} * {b}"
    elif kind == 1:
        problem, check = f"What is {a * 7} plus {b * 3}?", f"{a * 7} + {b * 3}"
    elif kind == 2:
        problem, check = f"What is {a * b + c} minus {a}?", f"{a * b + c} - {a}"
    elif kind == 3:
        problem, check = f"What is {a * b} divided by {b}?", f"{a * b} / {b}"
    elif kind == 4:
        problem, check = f"What is the product of {a} and {b}?", f"{a} * {b}"
    elif kind == 5:
        problem, check = f"A box holds {a} apples. How many apples are in {b} boxes?", f"{a} * {b}"
    elif kind == 6:
        problem, check = f"What is {a} times {b} plus {c}?", f"{a} * {b} + {c}"
    else:
        problem, check = f"Share {a * b} sweets equally among {b} children: how many does each get?", f"{a * b} / {b}"
    value = eval(check)  # noqa: S307 - our own expression
    return {"inputs": {"problem": problem}, "expected": number_text(value), "metadata": {"check": check}}


WORDS = ["apple", "river", "signal", "garden", "python", "orbit", "lantern", "meadow", "cipher", "harbor"]


def bash(rng: random.Random, i: int) -> dict:
    word, other = rng.sample(WORDS, 2)
    n, a, b = rng.randint(3, 9), rng.randint(10, 99), rng.randint(10, 99)
    kind = i % 10
    if kind == 0:
        text, command, out = f"prints the word {word} in upper case", f"echo {word} | tr a-z A-Z", word.upper()
    elif kind == 1:
        text, command, out = (
            f"prints the numbers 1 to {n}, one per line",
            f"seq {n}",
            "\n".join(map(str, range(1, n + 1))),
        )
    elif kind == 2:
        text, command, out = f"prints the sum of {a} and {b}", f"echo $(({a} + {b}))", str(a + b)
    elif kind == 3:
        text, command, out = f"prints the string {word} reversed", f"echo {word} | rev", word[::-1]
    elif kind == 4:
        text, command, out = f"prints how many characters the word {word} has", f"printf {word} | wc -c", str(len(word))
    elif kind == 5:
        words = rng.sample(WORDS, 4)
        text = f"prints the words {' '.join(words)} sorted alphabetically, one per line"
        command, out = f"printf '%s\\n' {' '.join(words)} | sort", "\n".join(sorted(words))
    elif kind == 6:
        sentence = " ".join(rng.sample(WORDS, n))
        text, command, out = (
            f"prints how many words the sentence '{sentence}' has",
            f"echo '{sentence}' | wc -w",
            str(n),
        )
    elif kind == 7:
        text = f"prints the word {word} {n} times on one line, without spaces"
        command, out = f"printf '{word}%.0s' $(seq {n})", word * n
    elif kind == 8:
        text, command, out = f"prints the product of {a} and {n}", f"echo $(({a} * {n}))", str(a * n)
    else:
        text = f"prints the words {word} and {other} joined by a hyphen"
        command, out = f"echo {word}-{other}", f"{word}-{other}"
    return {
        "inputs": {"description": f"Write a bash command that {text}"},
        "expected": out,
        "metadata": {"check": command},
    }


def scoring(rng: random.Random, i: int) -> dict:
    a, b = rng.randint(2, 12), rng.randint(2, 12)
    kind = i % 6
    if kind == 0:
        question, check = f"What is {a} * {b}?", f"{a} * {b}"
    elif kind == 1:
        question, check = f"What is {a} + {b} * {a}?", f"{a} + {b} * {a}"
    elif kind == 2:
        question, check = f"Write {a}/{a * b} in lowest terms.", f"Fraction({a}, {a * b})"
    elif kind == 3:
        question, check = f"What is {b * 10}% of {a * 10}?", f"Fraction({b * 10}, 100) * {a * 10}"
    elif kind == 4:
        question, check = f"What is {a}/4 as a decimal?", f"Fraction({a}, 4)"
    else:
        question, check = f"What is {a * b} divided by {b}?", f"Fraction({a * b}, {b})"
    value = Fraction(eval(check))  # noqa: S307 - our own expression
    right = (i // 6) % 2 == 0
    if right:
        fraction = f"{value.numerator}/{value.denominator}"
        terminates = Fraction(number_text(value)) == value  # 1/9 has no exact short decimal
        forms = [fraction] if kind == 2 or not terminates else [number_text(value)]
        if value.denominator != 1 and terminates and kind != 2:
            forms.append(fraction)
        answer = rng.choice(forms)
    else:
        mistakes = [value + 1, value - 1, value * 2, value + 10]
        if kind == 1:
            mistakes.append((a + b) * a)  # the order of operations
        answer = number_text(rng.choice([m for m in mistakes if m != value]))
    return {
        "inputs": {"question": question, "student_answer": answer},
        "expected": "accept" if right else "reject",
        "metadata": {"check": check},
    }


def factcheck(rng: random.Random, i: int) -> dict:
    true = (i // 7) % 2 == 0
    kind = i % 7
    if kind == 0:
        primes = [p for p in range(11, 200) if all(p % d for d in range(2, int(p**0.5) + 1))]
        n = rng.choice(primes) if true else rng.choice([91, 119, 133, 143, 161, 169, 187, 51, 57, 87])
        statement, check = f"{n} is a prime number.", f"is_prime({n})"
    elif kind == 1:
        b = rng.randint(3, 13)
        a = b * rng.randint(4, 30) + (0 if true else rng.randint(1, b - 1))
        statement, check = f"{a} is divisible by {b}.", f"{a} % {b} == 0"
    elif kind == 2:
        a = rng.randint(11, 40)
        square = a * a if true else a * a + rng.choice([-10, 10, 2 * a])
        statement, check = f"The square of {a} is {square}.", f"{a} ** 2 == {square}"
    elif kind == 3:
        p, n = rng.choice([10, 20, 25, 50, 75]), rng.choice([40, 80, 120, 200, 360])
        value = p * n // 100 if true else p * n // 100 + rng.choice([5, 10, -5])
        statement, check = f"{p} percent of {n} is {value}.", f"{p} * {n} / 100 == {value}"
    elif kind == 4:
        hours = rng.randint(2, 9)
        seconds = hours * 3600 if true else hours * 3600 + rng.choice([600, -600, 60])
        statement, check = f"{hours} hours is {seconds} seconds.", f"{hours} * 3600 == {seconds}"
    elif kind == 5:
        a, b = sorted(rng.sample(range(2, 12), 2))
        c, d = a, b + 1  # a/b > a/(b+1)
        statement, check = (
            (f"{a}/{b} is greater than {c}/{d}.", f"Fraction({a}, {b}) > Fraction({c}, {d})")
            if true
            else (f"{c}/{d} is greater than {a}/{b}.", f"Fraction({c}, {d}) > Fraction({a}, {b})")
        )
    else:
        days = rng.randint(2, 6)
        hours = days * 24 if true else days * 24 + rng.choice([12, -12, 24])
        statement, check = f"{days} days have {hours} hours.", f"{days} * 24 == {hours}"
    return {"inputs": {"statement": statement}, "expected": "true" if true else "false", "metadata": {"check": check}}


TOPICS = [
    "Sparse Attention",
    "Graph Neural Networks",
    "Federated Learning",
    "Speech Recognition",
    "Protein Folding",
    "Code Generation",
    "Image Segmentation",
    "Reinforcement Learning",
    "Time-Series Forecasting",
    "Machine Translation",
]


def accept_paper(features: dict) -> bool:
    """The reviewing rule behind the generated papers: a proof with experiments, or an empirical study
    against baselines on at least three benchmarks with its code released."""
    proof_backed = features["proof"] and features["benchmarks"] >= 1
    empirical = features["baselines"] and features["benchmarks"] >= 3 and features["code"]
    return proof_backed or empirical


def paper_review(rng: random.Random, i: int) -> dict:
    topic = TOPICS[i % len(TOPICS)]
    features = {
        "proof": rng.random() < 0.3,
        "baselines": rng.random() < 0.6,
        "benchmarks": rng.choice([0, 1, 2, 3, 5, 8]),
        "code": rng.random() < 0.6,
    }
    if i % 2 == 0:  # half accepted: tilt the features until the rule holds
        features.update(baselines=True, benchmarks=max(3, features["benchmarks"]), code=True)
    else:  # half rejected: no proof backed by experiments, and one requirement of a study missing
        missing = rng.choice(["baselines", "benchmarks", "code", "experiments"])
        features.update(proof=missing == "experiments" or features["proof"] and missing == "code")
        if missing == "experiments":
            features["benchmarks"] = 0
        elif missing == "benchmarks":
            features["benchmarks"] = min(2, features["benchmarks"])
        else:
            features[missing] = False
        if features["proof"] and features["benchmarks"]:
            features["benchmarks"] = 0
    features["baselines"] = features["baselines"] and features["benchmarks"] > 0  # no experiments, no baselines
    parts = [f"We present a new method for {topic.lower()}."]
    if features["proof"]:
        parts.append("We prove a convergence guarantee for it.")
    if features["benchmarks"]:
        against = "against strong baselines" if features["baselines"] else "without comparing to prior methods"
        parts.append(f"Experiments on {features['benchmarks']} benchmarks evaluate it {against}.")
    else:
        parts.append("We illustrate the idea on a hand-picked example.")
    parts.append("Code is released." if features["code"] else "Code is available on request.")
    title = rng.choice(["Towards Better", "Rethinking", "A Simple Approach to", "Scalable", "Efficient"])
    return {
        "inputs": {"title": f"{title} {topic}", "abstract": " ".join(parts)},
        "expected": "accept" if accept_paper(features) else "reject",
        "metadata": {"check": features},
    }


MAKERS = {
    "calculator": calculator,
    "bash": bash,
    "scoring": scoring,
    "factcheck": factcheck,
    "paper_review": paper_review,
}


def generated(name: str) -> list[dict]:
    rng = random.Random(f"hyperfunc-{name}")
    splits = [split for split, share in SPLITS.items() for _ in range(round(share * GENERATED))]
    random.Random(f"splits-{name}").shuffle(splits)
    return [{"id": f"{name}-{i + 1:03d}", **MAKERS[name](rng, i), "split": splits[i]} for i in range(GENERATED)]


def main() -> None:
    for name in MAKERS:
        path = DATA / f"{name}.json"
        written = [t for t in json.loads(path.read_text()) if "check" not in t.get("metadata", {})]
        path.write_text(json.dumps(written + generated(name), indent=1) + "\n")
        print(f"{path.relative_to(DATA.parent.parent.parent)}: {len(written)} written + {GENERATED} generated")


if __name__ == "__main__":
    main()
