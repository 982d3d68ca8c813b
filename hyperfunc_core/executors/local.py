"""The local executor: a temporary git worktree of the repository at a base commit.

``setup`` checks the base commit out into a detached worktree, applies the lineage's
patches with ``git apply`` and commits the result, so ``diff`` is exactly what changed
afterwards (the MetaAgent's work) as a real git patch. ``repoPath`` may be a folder inside
a repository: the workdir is that folder of the worktree and patches are relative to it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hyperfunc_core.executors.base import Executor, PatchError

GIT_IDENTITY = ["-c", "user.name=hyperfunc", "-c", "user.email=hyperfunc@localhost", "-c", "commit.gpgsign=false"]
# What running the code leaves behind is not part of a generation's change.
NOT_CHANGES = [":(exclude,glob)**/__pycache__/**", ":(exclude,glob)**/*.pyc"]


def git(cwd: str | Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=cwd, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip() or done.stdout.strip()}")
    return done


@dataclass(frozen=True)
class RepoSource:
    """Where a workspace comes from: the repository's top, the folder inside it, the base commit."""

    top: Path
    prefix: str  # '' or 'sub/dir/'
    commit: str


def locate_source(repo_path: str | Path, base_commit: str) -> RepoSource:
    """Check ``repoPath`` and ``baseCommit`` the way every executor needs them, naming what is wrong."""
    folder = Path(repo_path).resolve()
    if not folder.is_dir():
        raise ValueError(f"repoPath: {folder} is not a folder")
    top = git(folder, "rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0:
        raise ValueError(f"repoPath: {folder} is not inside a git repository (git init and commit it first)")
    resolved = git(folder, "rev-parse", "--verify", f"{base_commit}^{{commit}}", check=False)
    if resolved.returncode != 0:
        raise ValueError(f"baseCommit: {base_commit!r} is not a commit of {top.stdout.strip()}")
    return RepoSource(Path(top.stdout.strip()), git(folder, "rev-parse", "--show-prefix").stdout.strip(),
                      resolved.stdout.strip())


class LocalExecutor(Executor):
    def __init__(self, repo_path: str | Path = ".", base_commit: str = "HEAD", work_root: str | Path | None = None) -> None:
        self.repo_path = Path(repo_path).resolve()
        source = locate_source(repo_path, base_commit)
        self.top, self.prefix, self.base_commit = source.top, source.prefix, source.commit
        self.work_root = work_root
        self._tree: Path | None = None

    def setup(self, patch_files: list[str]) -> None:
        if self._tree is not None:
            raise RuntimeError("setup: this executor already has a workspace; cleanup() first")
        self._tree = Path(tempfile.mkdtemp(prefix="hyperfunc-gen-", dir=self.work_root)) / "repo"
        git(self.top, "worktree", "add", "--detach", "--quiet", str(self._tree), self.base_commit)
        applied = 0
        for patch in patch_files:
            if not Path(patch).exists():
                raise PatchError(f"patch {patch} of the lineage is missing")
            if Path(patch).stat().st_size == 0:
                continue
            args = ["apply", "--whitespace=nowarn"] + ([f"--directory={self.prefix.rstrip('/')}"] if self.prefix else [])
            done = git(self._tree, *args, str(Path(patch).resolve()), check=False)
            if done.returncode != 0:
                raise PatchError(f"patch {patch} does not apply: {done.stderr.strip()[:500]}")
            applied += 1
        if applied:
            git(self._tree, "add", "-A")
            git(self._tree, "commit", "--quiet", "--no-verify", "-m", f"lineage: {applied} patches")

    def get_workdir(self) -> str:
        if self._tree is None:
            raise RuntimeError("get_workdir: call setup() first")
        return str(self._tree / self.prefix) if self.prefix else str(self._tree)

    def diff(self) -> str:
        workdir = self.get_workdir()
        git(workdir, "add", "-A", "--", ".", *NOT_CHANGES)
        return git(workdir, "diff", "--cached", "--binary", "--relative", "HEAD").stdout

    def copy_out(self, src: str, dst: str) -> None:
        source = Path(self.get_workdir()) / src
        if source.is_dir():
            shutil.copytree(source, dst, dirs_exist_ok=True)
        else:
            Path(dst).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dst)

    def cleanup(self) -> None:
        if self._tree is None:
            return
        git(self.top, "worktree", "remove", "--force", str(self._tree), check=False)
        shutil.rmtree(self._tree.parent, ignore_errors=True)
        git(self.top, "worktree", "prune", check=False)
        self._tree = None
