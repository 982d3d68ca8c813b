"""The scoring domain: `python run.py` evaluates the TaskAgent once; `python run.py evolve` lets the
MetaAgent improve this folder's agent (prompts, tools) generation after generation.

Any litellm model: `--model ollama/llama3.2 --api-base http://localhost:11434` (or set
HYPERFUNC_MODEL and the provider's key). Results go to ./outputs/.
"""

from hyperfunc_core.cli.evolution import example_main

if __name__ == "__main__":
    raise SystemExit(example_main("scoring", __file__))
