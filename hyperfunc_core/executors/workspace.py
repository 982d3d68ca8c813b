"""What every executor's workspace is: a private repository made from the pinned base commit.

The user's repository is only read, once per workspace, by ``git archive`` of the pinned
commit (of ``repoPath``'s folder); the files land in a fresh folder that gets its own ``git
init``. No refs, config, hooks, object store or worktree metadata are shared, so nothing an
agent does to its workspace's git can reach the user's. From then on every git command in
the workspace (committing the base, replaying the lineage's patches, taking the diff) runs
through the workspace's runner: on this machine for the local executor, inside the sandbox
or the container for the others, so the agent's ``.git`` is never trusted outside its mode.

Each workspace folder carries an owner file (pid, host); ``reap_dead_workspaces`` removes
those whose process was killed outright, as the next workspace on the machine starts.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hyperfunc_core.concurrency import process_alive
from hyperfunc_core.executors import safe_files
from hyperfunc_core.executors.base import Executor, PatchError
from hyperfunc_core.executors.commands import CommandResult, run_in_workspace, unbind_runner
from hyperfunc_core.validation import InvalidInput

GIT_IDENTITY = ["-c", "user.name=hyperfunc", "-c", "user.email=hyperfunc@localhost", "-c", "commit.gpgsign=false"]
# Settings an agent may have planted in its workspace's git config that would run its code from our git calls.
GIT_SAFE = [*GIT_IDENTITY, "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"]
# What running the code leaves behind is not part of a generation's change.
NOT_CHANGES = [":(exclude,glob)**/__pycache__/**", ":(exclude,glob)**/*.pyc"]
OWNER_FILE = "owner.json"
FOLDER_PREFIX = "hyperfunc-ws-"
SETUP_TIMEOUT_S = 300.0  # git init/apply in the workspace


def git(cwd: str | Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """git on this machine, for reading the user's repository."""
    done = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=cwd, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip() or done.stdout.strip()}")
    return done


@dataclass(frozen=True)
class RepoSource:
    """Where a workspace comes from: the repository's top, the folder inside it, the pinned commit (a full SHA)."""

    top: Path
    prefix: str  # '' or 'sub/dir/'
    commit: str


def locate_source(repo_path: str | Path, base_commit: str) -> RepoSource:
    """Check ``repoPath`` and ``baseCommit`` the way every executor needs them, naming what is wrong.

    ``baseCommit`` is resolved to a full SHA here, once, so a new commit in the user's
    repository never moves the base of a workspace made from it.
    """
    folder = Path(repo_path).resolve()
    if not folder.is_dir():
        raise InvalidInput(f"repoPath: {folder} is not a folder")
    top = git(folder, "rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0:
        raise InvalidInput(f"repoPath: {folder} is not inside a git repository (git init and commit it first)")
    if not isinstance(base_commit, str) or not base_commit:
        raise InvalidInput(f"baseCommit: expected a commit (a SHA, a branch or HEAD), got {base_commit!r}")
    resolved = git(folder, "rev-parse", "--verify", "--quiet", f"{base_commit}^{{commit}}", check=False)
    if resolved.returncode != 0:
        raise InvalidInput(f"baseCommit: {base_commit!r} is not a commit of {top.stdout.strip()}")
    return RepoSource(
        Path(top.stdout.strip()), git(folder, "rev-parse", "--show-prefix").stdout.strip(), resolved.stdout.strip()
    )


def export_commit(source: RepoSource, folder: Path) -> None:
    """The pinned commit's files (of ``repoPath``'s folder) into the new folder ``folder``, nothing else."""
    tree = f"{source.commit}:{source.prefix}" if source.prefix else source.commit
    archive = subprocess.run(["git", "archive", "--format=tar", tree], cwd=source.top, capture_output=True)
    if archive.returncode != 0:
        raise RuntimeError(f"git archive {tree} failed: {archive.stderr.decode(errors='replace').strip()}")
    folder.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")


def hand_tree_to(folder: Path, uid: int, gid: int) -> None:
    """As root, give ``folder`` and everything in it to ``uid`` (the user the workspace's commands run as)."""
    if os.geteuid() != 0:
        return
    for top, dirs, files in os.walk(folder):
        for name in (top, *(os.path.join(top, f) for f in dirs + files)):
            os.lchown(name, uid, gid)


class WorkspaceExecutor(Executor):
    """The shared life of a workspace; subclasses say where its commands run (``_start``/``_stop``)."""

    mode = "local"

    def __init__(
        self, repo_path: str | Path = ".", base_commit: str = "HEAD", work_root: str | Path | None = None
    ) -> None:
        self.repo_path = Path(repo_path).resolve()
        self.source = locate_source(repo_path, base_commit)
        self.base_commit = self.source.commit
        self.work_root = work_root
        self._workdir: Path | None = None

    # -- the executor interface --------------------------------------------------------
    def setup(self, patch_files: list[str]) -> None:
        if self._workdir is not None:
            raise RuntimeError("setup: this executor already has a workspace; cleanup() first")
        reap_dead_workspaces(self.work_root)
        folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{self.mode}-", dir=self.work_root)).resolve()
        (folder / OWNER_FILE).write_text(
            json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "mode": self.mode})
        )
        self._workdir = folder / "repo"
        try:
            export_commit(self.source, self._workdir)
            self._start()
            self._apply_lineage(patch_files)
        except BaseException:
            self.cleanup()
            raise

    def get_workdir(self) -> str:
        if self._workdir is None:
            raise RuntimeError("get_workdir: call setup() first")
        return str(self._workdir)

    def diff(self) -> str:
        added = self._run(["git", *GIT_SAFE, "add", "-A", "--", ".", *NOT_CHANGES])
        done = self._run(["git", *GIT_SAFE, "diff", "--cached", "--binary", "HEAD"]) if added.returncode == 0 else added
        if done.returncode != 0:
            raise RuntimeError(f"diff: git failed in the workspace: {done.output.strip()[-500:]}")
        return done.stdout

    def copy_out(self, src: str, dst: str) -> None:
        """Copy a file or folder out without following any link in it (a link is an error)."""
        with safe_files.Workspace(self.get_workdir()) as workspace:
            workspace.copy_out(src, dst)

    def cleanup(self) -> None:
        if self._workdir is None:
            return
        unbind_runner(self._workdir)
        try:
            self._stop()
        finally:
            shutil.rmtree(self._workdir.parent, ignore_errors=True)  # rmtree never follows links
            self._workdir = None

    # -- where commands run ------------------------------------------------------------
    def _start(self) -> None:
        """Bind the workspace's runner (the local executor's commands run on this machine)."""

    def _stop(self) -> None:
        """Undo ``_start``."""

    # -- internals ---------------------------------------------------------------------
    def _apply_lineage(self, patch_files: list[str]) -> None:
        gitc = " ".join(["git", *GIT_SAFE])
        self._check(
            self._run(
                ["bash", "-c", f"{gitc} init -q && {gitc} add -A && {gitc} commit -q --allow-empty --no-verify -m base"]
            ),
            "git init",
        )
        applied = 0
        for patch in patch_files:
            if not Path(patch).exists():
                raise PatchError(f"patch {patch} of the lineage is missing")
            text = Path(patch).read_text()
            if not text:
                continue
            done = self._run(["git", *GIT_SAFE, "apply", "--whitespace=nowarn", "-"], input=text)
            if done.returncode != 0:
                raise PatchError(f"patch {patch} does not apply: {done.output.strip()[:500]}")
            applied += 1
        if applied:
            self._check(
                self._run(
                    ["bash", "-c", f"{gitc} add -A && {gitc} commit -q --no-verify -m 'lineage: {applied} patches'"]
                ),
                "git commit",
            )

    def _run(self, argv: list[str], input: str | None = None) -> CommandResult:
        return run_in_workspace(self.get_workdir(), argv, SETUP_TIMEOUT_S, input=input)

    @staticmethod
    def _check(done: CommandResult, what: str) -> None:
        if done.returncode != 0:
            raise RuntimeError(f"{what} failed in the workspace: {done.output.strip()[-500:]}")


def reap_dead_workspaces(work_root: str | Path | None = None) -> list[str]:
    """Remove workspace folders of this machine whose owning process is gone (it was killed outright)."""
    root = Path(work_root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{FOLDER_PREFIX}*"):
        try:
            owner = json.loads((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being made
        if owner.get("host") != socket.gethostname() or process_alive(int(owner.get("pid", 0))):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(str(folder))
    return removed
