"""The sandbox executor: every command of a generation in a bubblewrap sandbox, no Docker needed.

The workspace is a private repository (``executors/workspace.py``); each command run in it
(the MetaAgent's bash, the TaskAgent's tools, a bash domain's predictions, the executor's own
git) starts a fresh ``bwrap`` with:

- the whole system mounted read-only, a private empty ``/tmp`` and ``/dev/shm``, and the
  workspace the only writable host path;
- no network (a new network namespace with only its own loopback), no IPC, UTS or cgroup
  sharing, and a PID namespace of its own, so nothing the command started survives it;
- a cleared environment (no API keys or tokens of this process), every capability dropped,
  ``--die-with-parent`` and ``--new-session`` (no terminal injection);
- as root: the uid and gid 65534 (nobody), so files only root may read (``/root``, keys)
  stay unreadable, and a process limit (RLIMIT_NPROC) that holds;
- a wall-clock cap per command, an address-space cap per process and a file-size cap.

What it does not hide: files any user may read on this machine can be read (not written)
from inside. A machine where bubblewrap cannot start (not installed, or user namespaces
disabled) refuses the mode with the reason; it never falls back silently.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from hyperfunc_core.executors.commands import CommandRunner, bind_runner
from hyperfunc_core.executors.workspace import WorkspaceExecutor, hand_tree_to
from hyperfunc_core.validation import InvalidInput

SANDBOX_UID = 65534  # nobody, when this process is root
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def parse_bytes(value: str | int, name: str) -> int:
    """``"2g"``, ``"512m"``, ``"1048576"`` or an int, as bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)b?\s*", str(value).lower()) if isinstance(value, str) else None
    if not match or int(match.group(1)) <= 0:
        raise InvalidInput(f"{name}: expected a size such as '2g' or '512m', got {value!r}")
    return int(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " ")


class SandboxRunner(CommandRunner):
    """Runs a workspace's commands in a fresh bubblewrap sandbox each."""

    python = "python3"  # the system's interpreter: the project's own may live where the sandbox user cannot read

    def __init__(
        self, workspace: str, memory_bytes: int, pids_limit: int, file_bytes: int, max_command_s: float | None
    ) -> None:
        self.workspace, self.memory_bytes, self.pids_limit = workspace, memory_bytes, pids_limit
        self.file_bytes, self.max_command_s = file_bytes, max_command_s

    def argv(self, argv: list[str], cwd: str, stdin: bool = False) -> list[str]:
        return sandbox_argv(self.workspace, cwd, self.memory_bytes, self.pids_limit, self.file_bytes) + argv

    def local_cwd(self, cwd: str) -> str | None:
        return None  # bwrap --chdir


def sandbox_argv(workspace: str, cwd: str, memory_bytes: int, pids_limit: int, file_bytes: int) -> list[str]:
    """The argv prefix that runs a command in ``cwd`` inside the sandbox of ``workspace``."""
    prefix: list[str] = []
    limits = [f"--as={memory_bytes}", f"--fsize={file_bytes}"]
    if os.geteuid() == 0:
        prefix = ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups"]
        limits.append(f"--nproc={pids_limit}")  # counted per real uid: meaningful only for the sandbox's own
    return [
        *prefix,
        "prlimit",
        *limits,
        "--",
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--bind",
        workspace,
        workspace,
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--clearenv",
        "--setenv",
        "PATH",
        SANDBOX_PATH,
        "--setenv",
        "HOME",
        workspace,
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
        "--chdir",
        cwd,
        "--",
    ]


@functools.lru_cache(maxsize=1)
def sandbox_status() -> tuple[bool, str]:
    """Whether a sandbox can start on this machine, and what it is (or why not)."""
    missing = [
        tool
        for tool in ("bwrap", "prlimit", "timeout") + (("setpriv",) if os.geteuid() == 0 else ())
        if shutil.which(tool) is None
    ]
    if missing:
        return False, (
            f"{', '.join(missing)} not found; install bubblewrap (Debian: apt-get install bubblewrap)"
            if "bwrap" in missing
            else f"{', '.join(missing)} not found (util-linux, coreutils)"
        )
    with tempfile.TemporaryDirectory(prefix="hyperfunc-sandbox-probe-") as probe:
        os.chmod(probe, 0o777)
        argv = sandbox_argv(probe, probe, 1 << 30, 64, 1 << 20) + ["bash", "-c", "touch ok && id -u"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"bubblewrap did not start: {exc}"
        if done.returncode != 0 or not Path(probe, "ok").exists():
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return False, f"bubblewrap cannot start here: {reason} (user namespaces may be disabled)"
    version = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout.strip()
    who = f"uid {SANDBOX_UID}" if os.geteuid() == 0 else f"uid {os.getuid()}"
    return True, f"{version or 'bubblewrap'}: read-only system, no network, commands as {who}"


class SandboxExecutor(WorkspaceExecutor):
    mode = "sandbox"

    def __init__(
        self,
        repo_path: str | Path = ".",
        base_commit: str = "HEAD",
        memory: str | int = "4g",
        pids_limit: int = 256,
        file_size: str | int = "1g",
        command_timeout_s: float = 120.0,
        work_root: str | Path | None = None,
    ) -> None:
        self.memory_bytes = parse_bytes(memory, "memory")
        self.file_bytes = parse_bytes(file_size, "fileSize")
        if isinstance(pids_limit, bool) or not isinstance(pids_limit, int) or pids_limit < 16:
            raise InvalidInput(f"pidsLimit: expected an integer >= 16, got {pids_limit!r}")
        if (
            isinstance(command_timeout_s, bool)
            or not isinstance(command_timeout_s, (int, float))
            or command_timeout_s <= 0
        ):
            raise InvalidInput(f"commandTimeoutS: expected seconds > 0, got {command_timeout_s!r}")
        ok, why = sandbox_status()
        if not ok:
            raise RuntimeError(f"execution_mode 'sandbox' cannot start on this machine: {why}")
        self.pids_limit, self.command_timeout_s = pids_limit, float(command_timeout_s)
        super().__init__(repo_path, base_commit, work_root)

    def _start(self) -> None:
        workdir = self._workdir
        os.chmod(workdir.parent, 0o711)  # the sandbox's user must reach the workspace (mkdtemp makes it 0700)
        hand_tree_to(workdir, SANDBOX_UID, SANDBOX_UID)
        bind_runner(
            workdir,
            SandboxRunner(str(workdir), self.memory_bytes, self.pids_limit, self.file_bytes, self.command_timeout_s),
        )


__all__ = ["SandboxExecutor", "SandboxRunner", "parse_bytes", "sandbox_status"]
