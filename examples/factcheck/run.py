"""The factcheck domain: true or false, for statements a model can check by reasoning (is 91 prime?
is 75 % of 360 270?) beside well-known myths.

`python run.py` evaluates the TaskAgent once and counts its false alarms (a true statement called
false) and misses (a false one called true): a model that guesses one way scores near half.
`python run.py evolve` lets the MetaAgent improve the prompts (for example: work the arithmetic
out before answering).

Any litellm model: `--model ollama/llama3.2 --api-base http://localhost:11434` (or set
HYPERFUNC_MODEL and the provider's key). Results go to ./outputs/.
"""

from pathlib import Path

from hyperfunc_core.cli.evolution import example_main, label_mistakes


def explain(out: Path) -> None:
    counts = label_mistakes(out, ("true", "false"))
    print(
        f"false alarms (true called false): {counts.get(('true', 'false'), 0)}; "
        f"misses (false called true): {counts.get(('false', 'true'), 0)}"
    )
    answered = {a: sum(n for (_, b), n in counts.items() if b == a) for a in ("true", "false", "other")}
    print(f"answers given: {answered}")


if __name__ == "__main__":
    raise SystemExit(example_main("factcheck", __file__, explain=explain))
