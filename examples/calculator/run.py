"""The calculator domain: the agent's tool is code in this folder, and the MetaAgent can repair it.

`python run.py` first calls this folder's `calculate` tool itself (it ships with a bug), then
evaluates the TaskAgent once and lists the problems it got wrong with the tool's answers.
`python run.py evolve` lets the MetaAgent edit the tool and the prompts: two children per
generation, each smoke-checked (does the tool still import and answer?) and sampled on a fifth of
the train tasks before its full evaluation.

Any litellm model: `--model ollama/llama3.2 --api-base http://localhost:11434` (or set
HYPERFUNC_MODEL and the provider's key). Results go to ./outputs/.
"""

import json
import runpy
from pathlib import Path

from hyperfunc_core.cli.evolution import example_main

HERE = Path(__file__).resolve().parent


def explain(out: Path) -> None:
    calculate = runpy.run_path(str(HERE / "calculator_tool.py"))["calculate"]
    print(f"calculate('6 * 7') in this folder answers {calculate('6 * 7')} (42 when the tool is right)")
    wrong = [p for p in json.loads((out / "predictions.json").read_text()) if p["score"] < 1]
    for p in wrong[:8]:
        print(f"  {p['questionId']}: answered {p['prediction']!r}, expected {p['expected']}")


if __name__ == "__main__":
    raise SystemExit(example_main("calculator", __file__, explain=explain, children=2, staged_sample=0.2))
