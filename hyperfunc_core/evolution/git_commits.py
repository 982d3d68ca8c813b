"""A generation's lineage as git commits on a branch of the user's repository.

The run keeps each generation's change as a patch against its parent. Replayed as commits (the
run's pinned base commit, then one commit per generation of the lineage, each message saying
which generation, its scores and what the MetaAgent said it did), the evolved agent is reviewed,
diffed, bisected and merged like any other change. The user's checkout is never touched: the
commits are made in a temporary worktree.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hyperfunc_core.evolution.archive import PATCH_FILE, gen_dir, load_archive, load_gen_metadata
from hyperfunc_core.evolution.loop import read_run_file, run_label
from hyperfunc_core.executors.workspace import git, locate_source
from hyperfunc_core.validation import InvalidInput


def lineage(output_dir: Path, gen_id: str) -> list[str]:
    """The generations from the root to ``gen_id``, oldest first."""
    archive = load_archive(output_dir)
    if gen_id not in archive.entries:
        raise InvalidInput(f"--gen: no generation {gen_id!r} in {output_dir}; it has {', '.join(archive.entries)}")
    chain, at = [], gen_id
    while at is not None:
        chain.append(str(at))
        at = archive.entry(at).parent_id
    return list(reversed(chain))


def commit_lineage(
    output_dir: str | Path, gen_id: str | None = None, branch: str | None = None
) -> tuple[str, list[str]]:
    """Commit ``gen_id``'s lineage (default: the run's best) onto a new ``branch`` from the run's base
    commit; (the branch, the new commits' SHAs, oldest first). A branch that exists is refused."""
    output_dir = Path(output_dir).resolve()
    recorded = read_run_file(output_dir)
    if not recorded.get("base_commit") or not recorded.get("repo_path"):
        raise InvalidInput(f"RUN: {output_dir} has no run.json with the repository and base commit of an evolution run")
    archive = load_archive(output_dir)
    if gen_id is None:
        best = archive.best()
        if best is None:
            raise InvalidInput(f"RUN: {output_dir} has no valid generation to commit")
        gen_id = str(best.gen_id)
    chain = lineage(output_dir, gen_id)
    source = locate_source(recorded["repo_path"], recorded["base_commit"])
    branch = branch or f"hyperfunc/{run_label(str(output_dir))}-gen-{gen_id}"
    if git(source.top, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode == 0:
        raise InvalidInput(f"--branch: {branch!r} already exists in {source.top}; name another")
    commits: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hyperfunc-commit-") as scratch:
        tree = Path(scratch) / "worktree"
        git(source.top, "worktree", "add", "-q", "-b", branch, str(tree), source.commit)
        try:
            for g in chain:
                patch = gen_dir(output_dir, g) / PATCH_FILE
                if not patch.exists() or not patch.read_text().strip():
                    continue
                directory = ["--directory", source.prefix.rstrip("/")] if source.prefix else []
                git(tree, "apply", "--whitespace=nowarn", *directory, str(patch))
                git(tree, "add", "-A")
                git(tree, "commit", "-q", "--no-verify", "-m", _message(output_dir, g, archive.entry(g)))
                commits.append(git(tree, "rev-parse", "HEAD").stdout.strip())
        finally:
            git(source.top, "worktree", "remove", "--force", str(tree), check=False)
    return branch, commits


def _message(output_dir: Path, gen_id: str, entry) -> str:
    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    said = str(load_gen_metadata(output_dir, gen_id).get("meta_agent", {}).get("output", "")).strip()
    scores = {"train": fmt(entry.mean_on("train")), "validation": fmt(entry.mean_on("validation"))}
    subject = f"hyperfunc generation {gen_id} (parent {entry.parent_id}): " + json.dumps(scores)
    return subject + (f"\n\n{said}" if said else "") + f"\n\nEvolution run: {output_dir}"
