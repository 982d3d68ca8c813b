"""The bash domain: each prediction is a command, run where the agent's workspace runs.

`python run.py` says where the commands run and what that mode guarantees (a bubblewrap sandbox:
a read-only system and no network; Docker: a container), evaluates the TaskAgent once, and shows
each failed command with what it printed against what was expected. `python run.py evolve` lets
the MetaAgent improve the prompts.

Any litellm model: `--model ollama/llama3.2 --api-base http://localhost:11434` (or set
HYPERFUNC_MODEL and the provider's key). Results go to ./outputs/.
"""

import json
from pathlib import Path

from hyperfunc_core.cli.evolution import example_main
from hyperfunc_core.executors.base import check_mode


def explain(out: Path) -> None:
    mode, detail = check_mode("auto", {})
    print(f"the commands ran in the {mode} executor's way: {detail}")
    for p in [p for p in json.loads((out / "predictions.json").read_text()) if p["score"] < 1][:6]:
        print(f"  {p['questionId']}: $ {p['prediction']!r}\n      expected {p['expected']!r}")


if __name__ == "__main__":
    raise SystemExit(example_main("bash", __file__, explain=explain))
