"""The Docker executor: one container per generation, from the locally built base image.

``setup`` exports the pinned base commit into a fresh folder (``executors/workspace.py``),
starts a container that mounts that folder, and only that folder, at the same path, then
commits it and applies the lineage's patches with ``git`` inside the container. From then
on every command run in the workspace (the MetaAgent's bash, the TaskAgent's tools, a bash
domain's predictions) runs in the container through ``executors/commands.py``, and so does
every file operation on it (the editor, prompt files, scaffolding: ``safe_files`` run in the
container as its user), so no path in the workspace is resolved on this machine and no link
a process in the container made can aim a host-side read or write. The agents themselves,
and so the LLM gateway, stay on this machine, and the container has no network.

Isolation by default: ``--network none``, a CPU, memory and process limit, every capability
dropped and ``no-new-privileges``, commands as the image's non-root user, and a wall-clock
cap on every command. The container is removed by ``cleanup``, by an exit or SIGTERM handler
of this process, and, should the process have been killed outright, by the next executor
started on this machine (containers carry their owner's pid).

Container lifecycle and file copies go through the Docker SDK; commands go through
``docker exec`` processes, because a command needs a process that can be fed, timed and
killed like a local one.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from hyperfunc_core.concurrency import process_alive
from hyperfunc_core.executors import safe_files
from hyperfunc_core.executors.commands import CommandRunner, bind_runner, run_in_workspace
from hyperfunc_core.executors.image import AGENT_HOME, AGENT_UID, DEFAULT_IMAGE, docker_client
from hyperfunc_core.executors.workspace import WorkspaceExecutor, hand_tree_to
from hyperfunc_core.validation import InvalidInput

LABEL = "hyperfunc.executor"
OWNER_PID = "hyperfunc.owner_pid"
OWNER_HOST = "hyperfunc.owner_host"
FILE_OP_TIMEOUT_S = 60.0
_FILE_OPS = Path(safe_files.__file__).read_text()  # run inside the container: no host path is ever resolved


class DockerRunner(CommandRunner):
    """Runs a workspace's commands, and its file operations, in its container as the non-root user."""

    python = "python3"

    def __init__(self, container: str, user: str, max_command_s: float) -> None:
        self.container, self.user, self.max_command_s = container, user, max_command_s

    def argv(self, argv: list[str], cwd: str, stdin: bool = False) -> list[str]:
        return ["docker", "exec", *(["-i"] if stdin else []), "-u", self.user, "-w", cwd, self.container, *argv]

    def local_cwd(self, cwd: str) -> str | None:
        return None

    def kill_all(self) -> None:
        """Kill every process of the user in the container (its idle init is root's and stays)."""
        subprocess.run(
            ["docker", "exec", "-u", self.user, self.container, "bash", "-c", "kill -9 -1"],
            capture_output=True,
            timeout=60,
        )

    def file_request(self, request: dict) -> dict:
        """The ``safe_files`` operation inside the container, as the container's user."""
        done = run_in_workspace(
            request["root"], [self.python, "-I", "-S", "-c", _FILE_OPS], FILE_OP_TIMEOUT_S, input=json.dumps(request)
        )
        try:
            return json.loads(done.stdout)
        except ValueError:
            return {
                "error": f"the file helper failed in the container: {done.output.strip()[-300:] or done.returncode}"
            }


class DockerExecutor(WorkspaceExecutor):
    mode = "docker"

    def __init__(
        self,
        repo_path: str | Path = ".",
        base_commit: str = "HEAD",
        image_name: str = DEFAULT_IMAGE,
        cpus: float = 1.0,
        memory: str = "1g",
        network: str = "none",
        command_timeout_s: float = 120.0,
        pids_limit: int = 256,
        work_root: str | Path | None = None,
    ) -> None:
        super().__init__(repo_path, base_commit, work_root)
        if not isinstance(image_name, str) or not image_name:
            raise InvalidInput(f"imageName: expected a Docker image name, got {image_name!r}")
        if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or cpus <= 0:
            raise InvalidInput(f"cpus: expected a number of CPUs > 0, got {cpus!r}")
        if (
            isinstance(command_timeout_s, bool)
            or not isinstance(command_timeout_s, (int, float))
            or command_timeout_s <= 0
        ):
            raise InvalidInput(f"commandTimeoutS: expected seconds > 0, got {command_timeout_s!r}")
        if isinstance(pids_limit, bool) or not isinstance(pids_limit, int) or pids_limit < 16:
            raise InvalidInput(f"pidsLimit: expected an integer >= 16, got {pids_limit!r}")
        self.image_name, self.cpus, self.memory, self.network = image_name, float(cpus), memory, network
        self.command_timeout_s, self.pids_limit = float(command_timeout_s), pids_limit
        # Commands run as the image's user; where this process is not root, as its own (non-root) uid,
        # so the workspace copy it wrote stays writable on both sides.
        self.user = f"{AGENT_UID}:{AGENT_UID}" if os.geteuid() == 0 else f"{os.getuid()}:{os.getgid()}"
        self._container: Any = None
        self._inputs = 0

    # -- the executor interface --------------------------------------------------------
    def setup(self, patch_files: list[str]) -> None:
        client = docker_client()
        reap_orphans(client)
        try:
            client.images.get(self.image_name)
        except Exception as exc:  # noqa: BLE001 - docker.errors.ImageNotFound and API errors alike
            raise InvalidInput(
                f"imageName: no Docker image {self.image_name!r} ({type(exc).__name__}); "
                f"build it with `hyperfunc executor build-image --name {self.image_name}`"
            ) from exc
        self._client = client
        super().setup(patch_files)

    def copy_out(self, src: str, dst: str) -> None:
        """Copy out through the engine (it reads inside the container); links in the archive are not followed."""
        path = os.path.normpath(os.path.join(self.get_workdir(), src))
        if path != self.get_workdir() and not path.startswith(self.get_workdir() + "/"):
            raise ValueError(f"src: {src!r} is outside the workspace")
        stream, _ = self._container.get_archive(path)
        with tempfile.TemporaryDirectory(prefix="hyperfunc-copy-") as scratch:
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
                archive.extractall(scratch, filter="data")
            with safe_files.Workspace(scratch) as copied:
                copied.copy_out(Path(path).name, dst)

    def expose(self, path: str) -> str:
        """Copy ``path`` into the container under ``~/inputs`` (the workspace is the only mount)."""
        source = Path(path)
        if self._container is None or not source.exists():
            return path
        self._inputs += 1
        target = f"inputs/{self._inputs}/{source.name}"
        uid, gid = (int(part) for part in self.user.split(":"))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(str(source), arcname=target, filter=lambda info: _owned(info, uid, gid))
        self._container.put_archive(AGENT_HOME, buffer.getvalue())
        return f"{AGENT_HOME}/{target}"

    @property
    def container_name(self) -> str | None:
        return None if self._container is None else self._container.name

    # -- where commands run ------------------------------------------------------------
    def _start(self) -> None:
        hand_tree_to(self._workdir, AGENT_UID, AGENT_UID)
        workdir = str(self._workdir)
        self._container = self._client.containers.run(
            self.image_name,
            ["sleep", "infinity"],
            detach=True,
            init=True,
            name=f"hyperfunc-gen-{uuid.uuid4().hex[:12]}",
            labels={LABEL: "1", OWNER_PID: str(os.getpid()), OWNER_HOST: socket.gethostname()},
            network_mode=self.network,
            nano_cpus=int(self.cpus * 1e9),
            mem_limit=self.memory,
            memswap_limit=self.memory,
            pids_limit=self.pids_limit,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            volumes={workdir: {"bind": workdir, "mode": "rw"}},
            working_dir=workdir,
            environment={"HOME": AGENT_HOME, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        _LIVE[self._container.id] = self._container
        _install_exit_handlers()
        bind_runner(self._workdir, DockerRunner(self._container.name, self.user, self.command_timeout_s))

    def _stop(self) -> None:
        if self._container is not None:
            _remove(self._container)
            _LIVE.pop(self._container.id, None)
            self._container = None


def _owned(info: tarfile.TarInfo, uid: int, gid: int) -> tarfile.TarInfo:
    info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
    return info


# -- containers outliving their executor -------------------------------------------------
_LIVE: dict[str, Any] = {}
_HANDLERS_LOCK = threading.Lock()
_atexit_registered = False


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except Exception as exc:  # noqa: BLE001 - already gone is fine; anything else is worth a word
        if "404" not in str(exc) and "No such container" not in str(exc):
            print(f"hyperfunc: could not remove container {container.name}: {exc}")


def remove_live_containers() -> int:
    """Remove every container this process started and has not removed yet."""
    removed = 0
    for key, container in list(_LIVE.items()):
        _remove(container)
        _LIVE.pop(key, None)
        removed += 1
    return removed


def _install_exit_handlers() -> None:
    """At exit, and on SIGTERM where nothing else handles it, remove live containers first.

    A SIGTERM handler installed by someone else is left in place. Prefect's flow engine installs
    one that turns SIGTERM into an exception, and it must stay installed for Prefect to
    acknowledge a cancel from the UI as a cancel (not a crash); that exception unwinds through
    the generation's ``executor.cleanup()``, and the atexit hook is the backstop.
    """
    global _atexit_registered
    with _HANDLERS_LOCK:
        if not _atexit_registered:
            atexit.register(remove_live_containers)
            _atexit_registered = True
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _remove_containers_then_terminate)


def _remove_containers_then_terminate(signum: int, frame: Any) -> None:
    remove_live_containers()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def executor_containers(client: Any = None, all_hosts: bool = False) -> list[Any]:
    """The executor's containers on the engine (this machine's, unless ``all_hosts``)."""
    client = client or docker_client()
    found = client.containers.list(all=True, filters={"label": LABEL})
    return found if all_hosts else [c for c in found if c.labels.get(OWNER_HOST) == socket.gethostname()]


def reap_orphans(client: Any = None) -> list[str]:
    """Remove this machine's executor containers whose owning process is gone (it was killed outright)."""
    removed = []
    for container in executor_containers(client):
        pid = int(container.labels.get(OWNER_PID, "0") or 0)
        if pid and process_alive(pid):
            continue
        _remove(container)
        removed.append(container.name)
    return removed


__all__ = ["DockerExecutor", "DockerRunner", "executor_containers", "reap_orphans", "remove_live_containers"]
