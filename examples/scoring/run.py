"""The scoring domain: accept or reject a student's answer, where a right answer may come in another
form (3/4, 0.75) and a wrong one is often a classic slip (the order of operations, off by one).

`python run.py` evaluates the TaskAgent once and splits its mistakes into too lenient (a wrong
answer accepted) and too strict (a right one rejected): the first thing a grader's prompt must fix.
`python run.py evolve` lets the MetaAgent improve the prompts.

Any litellm model: `--model ollama/llama3.2 --api-base http://localhost:11434` (or set
HYPERFUNC_MODEL and the provider's key). Results go to ./outputs/.
"""

from pathlib import Path

from hyperfunc_core.cli.evolution import example_main, label_mistakes


def explain(out: Path) -> None:
    counts = label_mistakes(out, ("accept", "reject"))
    lenient, strict = counts.get(("reject", "accept"), 0), counts.get(("accept", "reject"), 0)
    other = sum(n for (_, answered), n in counts.items() if answered == "other")
    print(f"too lenient (wrong answers accepted): {lenient}; too strict (right answers rejected): {strict}")
    print(f"answers that were neither accept nor reject: {other}")


if __name__ == "__main__":
    raise SystemExit(example_main("scoring", __file__, explain=explain))
