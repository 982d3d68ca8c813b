"""Running a command where a workspace lives: on this machine, or inside its executor's container.

Tools and domains only know a workspace by its folder. An executor whose commands must run
elsewhere (the Docker executor) binds a ``CommandRunner`` to its folder for as long as the
workspace exists; ``runner_for(folder)`` finds it, and every command run in that folder (the
MetaAgent's bash, the TaskAgent's tools, a bash domain's predictions) goes through it. The
folder has the same path on this machine and in the container, so paths the agents see are
valid on both sides.

Every command has a wall-clock limit: it runs under coreutils ``timeout`` in a process group
of its own, and that whole group is killed when the command returns or its limit is hit; a
runner may cap the limit (an executor's per-command limit). Files in a workspace are read
and written through ``WorkspaceFiles``, which never follows a link (``safe_files``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from hyperfunc_core.executors import safe_files
from hyperfunc_core.validation import InvalidInput


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

    def file_request(self, request: dict) -> dict:
        """One ``safe_files`` operation in the workspace; here, in this process (no path is ever followed)."""
        return safe_files.handle(request)


class WorkspaceFiles:
    """Link-safe reads and writes of one workspace's files, wherever the workspace's commands run.

    Every host-side touch of a workspace (the editor, prompt files, scaffolding, tool lookups)
    goes through this, so a link the agent planted fails the call instead of redirecting it.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = os.path.abspath(root)
        self.runner = runner_for(self.root)

    def _call(self, op: str, path: str, **extra: object) -> dict:
        answer = self.runner.file_request({"op": op, "root": self.root, "path": path, **extra})
        if "error" in answer:
            raise safe_files.UnsafePath(answer["error"])
        return answer

    def kind(self, path: str) -> str:
        """file, dir, link, other or missing; a link is never followed."""
        return self._call("info", path)["kind"]

    def read_text(self, path: str) -> str:
        return self._call("read", path)["text"]

    def read_if_file(self, path: str) -> str | None:
        """The text, or None where nothing is there (one operation: one ``docker exec`` in Docker mode)."""
        return self._call("read_if_file", path)["text"]

    def write_text(self, path: str, text: str) -> str | None:
        """Write ``path``; what it held before (None where it did not exist)."""
        return self._call("write", path, text=text)["previous"]

    def remove(self, path: str) -> None:
        self._call("remove", path)

    def listing(self, path: str = ".") -> list[str]:
        return self._call("listing", path)["paths"]


LOCAL = CommandRunner()
_RUNNERS: dict[str, CommandRunner] = {}
_LOCK = threading.Lock()


def bind_runner(workdir: str | Path, runner: CommandRunner) -> None:
    with _LOCK:
        _RUNNERS[os.path.abspath(workdir)] = runner


def unbind_runner(workdir: str | Path) -> None:
    with _LOCK:
        _RUNNERS.pop(os.path.abspath(workdir), None)


def runner_for(path: str | Path | None) -> CommandRunner:
    """The runner bound to ``path`` or to the nearest folder above it; ``LOCAL`` when none is.

    The path is taken as written, never resolved: a link inside a workspace must not lead a
    command out of the workspace's runner (and out of its sandbox).
    """
    if path is None:
        return LOCAL
    full = Path(os.path.abspath(path))
    with _LOCK:
        for folder in (full, *full.parents):
            if str(folder) in _RUNNERS:
                return _RUNNERS[str(folder)]
    return LOCAL


# Runs the command (``$@``) under ``timeout`` in a process group of its own, then kills that whole group:
# whatever the command left running in the background is gone when it returns, in every mode.
_ONE_GROUP = (
    'limit=$1; shift; exec 3<&0; timeout -s KILL "$limit" "$@" <&3 3<&- & child=$!; exec 3<&-; '
    'wait "$child" 2>/dev/null; status=$?; kill -KILL -- "-$child" 2>/dev/null; exit "$status"'
)


def run_in_workspace(
    workdir: str | Path, command: str | list[str], timeout_s: float, input: str | None = None
) -> CommandResult:
    """Run ``command`` (a shell string or an argv) in ``workdir``, killed at ``timeout_s`` (or the runner's cap).

    Nothing the command started outlives it: its process group is killed when it returns (and,
    in the sandbox, its PID namespace ends with it).
    """
    if not timeout_s or timeout_s <= 0:
        raise InvalidInput(f"timeout_s: expected a number of seconds > 0, got {timeout_s!r}")
    runner = runner_for(workdir)
    limit = runner.limit(timeout_s)
    inner = ["bash", "-c", command] if isinstance(command, str) else list(command)
    argv = runner.argv(
        ["bash", "-c", _ONE_GROUP, "one-group", f"{limit:g}s", *inner], str(workdir), stdin=input is not None
    )
    try:
        done = subprocess.run(
            argv,
            cwd=runner.local_cwd(str(workdir)),
            input=input,
            capture_output=True,
            text=True,
            stdin=None if input is not None else subprocess.DEVNULL,
            timeout=limit + 15,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:  # the wrapper itself hung (an unresponsive engine)
        runner.kill_all()
        return CommandResult(-9, _text(exc.stdout), _text(exc.stderr), True, limit)
    # ``timeout -s KILL`` kills its whole group, itself included: 137 from the wrapping shell.
    return CommandResult(done.returncode, done.stdout, done.stderr, done.returncode in (-9, 124, 137), limit)


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")
