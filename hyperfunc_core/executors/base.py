"""The executor interface: an isolated workspace per generation where patches are replayed."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from hyperfunc_core.validation import InvalidInput


class PatchError(RuntimeError):
    """A patch of the lineage did not apply; the generation is not a valid parent."""


class Executor(ABC):
    @abstractmethod
    def setup(self, patch_files: list[str]) -> None:
        """Create the workspace at the base commit and apply ``patch_files`` in order."""

    @abstractmethod
    def get_workdir(self) -> str:
        """The folder (on this machine) where the repository's files are."""

    @abstractmethod
    def diff(self) -> str:
        """Every change made since ``setup`` finished, as a patch ``git apply`` takes."""

    @abstractmethod
    def copy_out(self, src: str, dst: str) -> None:
        """Copy ``src`` (relative to the workdir) to ``dst`` on this machine."""

    @abstractmethod
    def cleanup(self) -> None:
        """Remove the workspace."""

    def expose(self, path: str) -> str:
        """Make ``path`` (a file or folder on this machine) readable by the workspace's commands.

        Returns the path those commands use for it: the same path where they run on this
        machine, a copy inside the container for the Docker executor.
        """
        return path

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()


MODES = ("local", "sandbox", "docker")


def create_executor(kind: str, options: dict[str, Any] | None = None) -> Executor:
    """``create_executor("local", {"repoPath": ".", "baseCommit": "HEAD"})``, ``"sandbox"`` or ``"docker"``.

    Options are the seed's camelCase names: ``repoPath``, ``baseCommit``, ``workRoot``; for the
    sandbox ``memory``, ``pidsLimit``, ``fileSize``, ``commandTimeoutS``; for Docker
    ``imageName``, ``cpus``, ``memory``, ``network``, ``commandTimeoutS``, ``pidsLimit``.
    ``"auto"`` is the strongest mode that can start here (see ``strongest_mode``).
    """
    options = dict(options or {})
    common = {"repo_path": options.pop("repoPath", "."), "base_commit": options.pop("baseCommit", "HEAD")}
    if kind == "auto":
        kind = strongest_mode(options.get("imageName"))[0]
    if kind == "local":
        from hyperfunc_core.executors.local import LocalExecutor

        return LocalExecutor(**common, **_snake(options, {"workRoot"}))
    if kind == "sandbox":
        from hyperfunc_core.executors.sandbox import SandboxExecutor

        return SandboxExecutor(
            **common, **_snake(options, {"memory", "pidsLimit", "fileSize", "commandTimeoutS", "workRoot"})
        )
    if kind == "docker":
        from hyperfunc_core.executors.docker import DockerExecutor

        return DockerExecutor(
            **common,
            **_snake(options, {"imageName", "cpus", "memory", "network", "commandTimeoutS", "pidsLimit", "workRoot"}),
        )
    raise InvalidInput(f"kind: expected 'auto', 'local', 'sandbox' or 'docker', got {kind!r}")


def mode_status(mode: str, image_name: str | None = None) -> tuple[bool, str]:
    """Whether executor ``mode`` can start on this machine, and what it is (or why not)."""
    if mode == "docker":
        from hyperfunc_core.executors.image import DEFAULT_IMAGE, engine_status, image_status

        image = image_name or DEFAULT_IMAGE
        ok, why = engine_status()
        if ok:
            ok, why = image_status(image)
        return ok, f"a container per generation from {image}, no network" if ok else why
    if mode == "sandbox":
        from hyperfunc_core.executors.sandbox import sandbox_status

        return sandbox_status()
    return True, "without isolation"


def strongest_mode(image_name: str | None = None) -> tuple[str, str]:
    """The strongest executor mode that can start on this machine, and why the stronger ones cannot.

    Docker (a container per generation) when an engine answers and the executor image is
    built; else the sandbox (bubblewrap) when it starts; else local, which isolates nothing.
    """
    docker_ok, docker = mode_status("docker", image_name)
    if docker_ok:
        return "docker", f"docker: {docker}"
    sandbox_ok, sandbox = mode_status("sandbox")
    if sandbox_ok:
        return "sandbox", f"sandbox: {sandbox} (docker: {docker})"
    return "local", f"local, without isolation (docker: {docker}; sandbox: {sandbox})"


def check_mode(mode: str, options: dict[str, Any] | None = None) -> tuple[str, str]:
    """``mode`` resolved ('auto' to the strongest) and checked that it can start here, before any work.

    Returns (mode, what it is); raises ``ValueError`` naming the mode and why it cannot start.
    """
    image = (options or {}).get("imageName")
    if mode == "auto":
        return strongest_mode(image)
    if mode not in MODES:
        raise InvalidInput(f"execution_mode: expected 'auto', 'local', 'sandbox' or 'docker', got {mode!r}")
    ok, why = mode_status(mode, image)
    if not ok:
        raise InvalidInput(f"execution_mode: {mode!r} cannot start on this machine: {why}")
    return mode, f"{mode}: {why}" if mode != "local" else f"local, {why}"


def _snake(options: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InvalidInput(f"options: unknown {', '.join(unknown)}; expected some of {', '.join(sorted(allowed))}")
    return {"".join("_" + c.lower() if c.isupper() else c for c in key): value for key, value in options.items()}
