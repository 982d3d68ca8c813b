"""Evolution on a real git repository, with the result as git commits.

`python run.py` makes a git repository of the calculator agent (its tool and prompts, one commit),
evolves it (two MetaAgent children per generation, run at once; each child smoke-checked and
sampled before its full evaluation; parents chosen on validation), then commits the best
generation's lineage to a new branch of that repository: one commit per generation, its message
carrying the scores and what the MetaAgent said it changed. Review it with `git log -p`, merge it
like any change.

Any litellm model: `--model openai/gpt-4o-mini` (or set HYPERFUNC_MODEL and the provider's key);
without one, the local model (`scripts/setup.sh --local`), else the scripted offline model plays
both agents, and says so.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from hyperfunc_core.evolution.git_commits import commit_lineage
from hyperfunc_core.jobs import evolve_domain
from hyperfunc_core.model_choice import chosen_model

HERE = Path(__file__).resolve().parent
AGENT = HERE.parent / "calculator"  # the agent this example puts under git


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def make_repository(repo: Path) -> None:
    """The calculator agent's files in a new repository, committed once."""
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    shutil.copy(AGENT / "calculator_tool.py", repo)
    shutil.copytree(AGENT / "prompts", repo / "prompts")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(
        repo,
        "-c",
        "user.name=hyperfunc",
        "-c",
        "user.email=hyperfunc@localhost",
        "commit",
        "-qm",
        "The calculator agent",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", help="litellm model string (default: HYPERFUNC_MODEL, else the local model, else the offline one)"
    )
    parser.add_argument("--api-base")
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--children", type=int, default=2, help="MetaAgent attempts per generation, at once")
    parser.add_argument("--eval-samples", type=int, help="tasks of each split per evaluation (default: all)")
    parser.add_argument("--out", default=str(HERE / "outputs"), help="where the repository and the run go")
    parser.add_argument("--local", action="store_true", help="the plain loop instead of the Prefect flow")
    args = parser.parse_args(argv)

    out = Path(args.out).resolve()
    repo, run = out / "agent_repo", out / "run"
    make_repository(repo)
    shutil.rmtree(run, ignore_errors=True)
    with chosen_model(args.model, args.api_base, scripted_fallback=True) as choice:
        result = evolve_domain(
            "calculator",
            str(repo),
            generations=args.generations,
            children=args.children,
            staged_sample=0.2,
            eval_samples=args.eval_samples,
            prompts_dir="prompts",
            output=str(run),
            run_name=f"git-evolution-{out.name}",
            orchestrate=not args.local,
            **choice.options,
        )
    print(
        f"stopped: {result.stop_reason}; best generation {result.best_gen}: validation {result.best_score}, "
        f"test {(result.test or {}).get('score', 'n/a')}"
    )
    branch, commits = commit_lineage(run, result.best_gen)
    print(f"\nbranch {branch} of {repo}: {len(commits)} commit(s) on top of main")
    print(git(repo, "log", "--format=%h %s", f"main..{branch}"))
    print(git(repo, "diff", "--stat", f"main..{branch}"))
    print(f"read it: git -C {repo} log -p main..{branch}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
