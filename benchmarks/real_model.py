"""Agent evolution with a real model: what each generation scores on train and validation, what the
best scores once on test, and the tokens, cost and time it took.

The model is the configured one (HYPERFUNC_MODEL and its key, or --model/--api-base), else the
local one (`scripts/setup.sh --local`: SmolLM2-135M on transformers serve), said out loud. The
baseline, measured in the same run, is each domain's initial generation: the agent before any edit.

    .venv/bin/python benchmarks/real_model.py [--domains calculator factcheck] [--generations 2]
        [--eval-samples 3] [--children 1] [--model M --api-base URL]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from hyperfunc_core import (
    AgentOptions,
    GenerateLoopConfig,
    MetaAgent,
    TaskAgent,
    get_framework_tools,
    load_archive,
    run_generate_loop,
)
from hyperfunc_core.domains import get_domain
from hyperfunc_core.llm import LLMGateway
from hyperfunc_core.model_choice import chosen_model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def agent_repo(root: Path, domain: str) -> Path:
    """The domain's example agent (its prompts, and tools where it has them) as a new git repository."""
    repo = root / f"{domain}_agent"
    shutil.copytree(EXAMPLES / domain, repo, ignore=shutil.ignore_patterns("outputs", "run.py", "__pycache__"))
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


def evolve(root: Path, domain: str, gateway: LLMGateway, args: argparse.Namespace) -> tuple[list[dict], dict, float]:
    started = time.perf_counter()
    result = run_generate_loop(
        GenerateLoopConfig(
            domains=[get_domain(domain)],
            meta_agent=MetaAgent(AgentOptions(gateway=gateway, max_steps=args.meta_steps)),
            task_agent_factory=lambda tools: TaskAgent(AgentOptions(gateway=gateway, tools=tools, max_steps=3)),
            tools=get_framework_tools(),
            output_dir=str(root / f"{domain}_run"),
            repo_path=str(agent_repo(root, domain)),
            storage=f"sqlite:///{root / domain}.sqlite",
            max_generations=args.generations,
            children_per_generation=args.children,
            eval_samples=args.eval_samples,
            prompts_dir="prompts",
        ),
        orchestrate=False,
    )
    seconds = time.perf_counter() - started
    archive = load_archive(result.output_dir)
    rows = []
    for g in archive.archive:
        entry = archive.entry(g)
        usage = entry.metadata.get("usage", {})
        rows.append(
            {
                "gen": str(g),
                "parent": str(entry.parent_id),
                "train": entry.mean_on("train"),
                "validation": entry.mean_on("validation"),
                "tokens": usage.get("total_tokens", 0),
                "cost": usage.get("cost_usd", 0.0),
                "note": (entry.metadata.get("error") or "")[:50],
            }
        )
    return rows, {"test": result.test or {}, "best": result.best_gen, "cost": result.cost_usd}, seconds


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", nargs="+", default=["calculator", "factcheck"])
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--children", type=int, default=1)
    parser.add_argument("--eval-samples", type=int, default=3)
    parser.add_argument("--meta-steps", type=int, default=4, help="MetaAgent turns per generation")
    parser.add_argument("--max-tokens", type=int, default=64, help="per answer")
    parser.add_argument("--model")
    parser.add_argument("--api-base")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, chosen_model(args.model, args.api_base) as choice:
        gateway = LLMGateway(**choice.options, timeout_s=300, default_params={"max_tokens": args.max_tokens})
        print(f"model: {gateway.model} ({choice.description})")
        print(f"{'domain':<13} {'gen':>7} {'parent':>7} {'train':>7} {'valid.':>7} {'tokens':>7} {'cost $':>8}  note")
        for domain in args.domains:
            rows, outcome, seconds = evolve(Path(tmp), domain, gateway, args)
            for r in rows:
                print(
                    f"{domain:<13} {r['gen']:>7} {r['parent']:>7} {fmt(r['train']):>7} {fmt(r['validation']):>7} "
                    f"{r['tokens']:>7} {r['cost']:>8.4f}  {r['note']}"
                )
            base = rows[0]["validation"]
            best = max((r["validation"] for r in rows if r["validation"] is not None), default=None)
            test = outcome["test"]
            print(
                f"{domain}: best gen {outcome['best']} validation {fmt(best)} vs the initial's {fmt(base)} "
                f"(baseline, this run); test {fmt(test.get('score'))}; ${outcome['cost']:.4f}; {seconds:.0f} s"
            )


if __name__ == "__main__":
    main()
