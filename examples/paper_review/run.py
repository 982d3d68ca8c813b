"""The paper review domain: accept or reject a paper from its title and abstract, under a reviewing
rule the agent is never told (a proof backed by experiments, or a study against baselines on at
least three benchmarks with its code released).

`python run.py` evaluates the TaskAgent once and shows the accept/reject table. `python run.py
evolve` is where the domain earns its place: the MetaAgent reads the train failures and must infer
the rule into the prompt, and only validation (tasks it never sees) decides whether it did.

Any litellm model: `--model ollama/llama3.2 --api-base http://localhost:11434` (or set
HYPERFUNC_MODEL and the provider's key). Results go to ./outputs/.
"""

from pathlib import Path

from hyperfunc_core.cli.evolution import example_main, label_mistakes


def explain(out: Path) -> None:
    counts = label_mistakes(out, ("accept", "reject"))
    print("expected \\ answered   accept  reject  other")
    for expected in ("accept", "reject"):
        row = [counts.get((expected, answered), 0) for answered in ("accept", "reject", "other")]
        print(f"{expected:>19}   {row[0]:>6}  {row[1]:>6}  {row[2]:>5}")


if __name__ == "__main__":
    raise SystemExit(example_main("paper_review", __file__, explain=explain))
