"""The executor interface: an isolated workspace per generation where patches are replayed."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


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


def create_executor(kind: str, options: dict[str, Any] | None = None) -> Executor:
    """``create_executor("local", {"repoPath": ".", "baseCommit": "HEAD"})`` or
    ``create_executor("docker", {"repoPath": ".", "imageName": "hyperfunc-executor"})``.

    Options are the seed's camelCase names: ``repoPath``, ``baseCommit``, and for Docker
    ``imageName``, ``cpus``, ``memory``, ``network``, ``commandTimeoutS``, ``pidsLimit``.
    """
    options = dict(options or {})
    common = {"repo_path": options.pop("repoPath", "."), "base_commit": options.pop("baseCommit", "HEAD")}
    if kind == "local":
        from hyperfunc_core.executors.local import LocalExecutor

        return LocalExecutor(**common, **_snake(options, {"workRoot"}))
    if kind == "docker":
        from hyperfunc_core.executors.docker import DockerExecutor

        return DockerExecutor(**common, **_snake(options, {"imageName", "cpus", "memory", "network", "commandTimeoutS",
                                                           "pidsLimit", "workRoot"}))
    raise ValueError(f"kind: expected 'local' or 'docker', got {kind!r}")


def _snake(options: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"options: unknown {', '.join(unknown)}; expected some of {', '.join(sorted(allowed))}")
    return {"".join("_" + c.lower() if c.isupper() else c for c in key): value
            for key, value in options.items()}
