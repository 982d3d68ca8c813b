"""Running a command where a workspace lives: on this machine, or inside its executor's container.

Tools and domains only know a workspace by its folder. An executor whose commands must run
elsewhere (the Docker executor) binds a ``CommandRunner`` to its folder for as long as the
workspace exists; ``runner_for(folder)`` finds it, and every command run in that folder (the
MetaAgent's bash, the TaskAgent's tools, a bash domain's predictions) goes through it. The
folder has the same path on this machine and in the container, so paths the agents see are
valid on both sides.

Every command has a wall-clock limit: it runs under coreutils ``timeout``, which kills its
whole process group, and a runner may cap the limit (an executor's per-command limit).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path


class CommandTimeout(RuntimeError):
    """A command ran past its wall-clock limit and was killed."""


@dataclass
class CommandResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    limit_s: float  # the wall-clock limit it ran under

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class CommandRunner:
    """Runs commands in a folder of this machine (the local executor's workspaces, scratch folders)."""

    python = sys.executable  # the interpreter a workspace's Python code runs with
    max_command_s: float | None = None  # a cap on every command's limit; None: the caller's limit

    def argv(self, argv: list[str], cwd: str, stdin: bool = False) -> list[str]:
        """The argv that runs ``argv`` in ``cwd`` (``stdin``: the command reads its standard input)."""
        return argv

    def local_cwd(self, cwd: str) -> str | None:
        """The folder the wrapping process starts in on this machine."""
        return cwd

    def kill_all(self) -> None:
        """Kill whatever still runs in the workspace after a limit was hit (local: the process group is enough)."""

    def limit(self, timeout_s: float) -> float:
        return timeout_s if self.max_command_s is None else min(timeout_s, self.max_command_s)


LOCAL = CommandRunner()
_RUNNERS: dict[Path, CommandRunner] = {}
_LOCK = threading.Lock()


def bind_runner(workdir: str | Path, runner: CommandRunner) -> None:
    with _LOCK:
        _RUNNERS[Path(workdir).resolve()] = runner


def unbind_runner(workdir: str | Path) -> None:
    with _LOCK:
        _RUNNERS.pop(Path(workdir).resolve(), None)


def runner_for(path: str | Path | None) -> CommandRunner:
    """The runner bound to ``path`` or to the nearest folder above it; ``LOCAL`` when none is."""
    if path is None:
        return LOCAL
    full = Path(path).resolve()
    with _LOCK:
        for folder in (full, *full.parents):
            if folder in _RUNNERS:
                return _RUNNERS[folder]
    return LOCAL


def run_in_workspace(workdir: str | Path, command: str | list[str], timeout_s: float,
                     input: str | None = None) -> CommandResult:
    """Run ``command`` (a shell string or an argv) in ``workdir``, killed at ``timeout_s`` (or the runner's cap)."""
    if not timeout_s or timeout_s <= 0:
        raise ValueError(f"timeout_s: expected a number of seconds > 0, got {timeout_s!r}")
    runner = runner_for(workdir)
    limit = runner.limit(timeout_s)
    inner = ["bash", "-c", command] if isinstance(command, str) else list(command)
    argv = runner.argv(["timeout", "-s", "KILL", f"{limit:g}s", *inner], str(workdir), stdin=input is not None)
    try:
        done = subprocess.run(argv, cwd=runner.local_cwd(str(workdir)), input=input, capture_output=True, text=True,
                              timeout=limit + 15, start_new_session=True)
    except subprocess.TimeoutExpired as exc:  # the wrapper itself hung (an unresponsive engine)
        runner.kill_all()
        return CommandResult(-9, _text(exc.stdout), _text(exc.stderr), True, limit)
    # ``timeout -s KILL`` kills its whole group, itself included: -9 here, 137 through ``docker exec``.
    return CommandResult(done.returncode, done.stdout, done.stderr, done.returncode in (-9, 124, 137), limit)


def chown_like(paths: list[Path], reference: Path) -> None:
    """Give ``paths`` (just created here) to ``reference``'s owner.

    As root on this machine, files written into a Docker workspace would belong to root, and
    the container's non-root user could not change them; this keeps them the workspace's.
    """
    if os.geteuid() != 0:
        return
    owner = reference.stat()
    if owner.st_uid == 0:
        return
    for path in paths:
        os.chown(path, owner.st_uid, owner.st_gid)


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")
