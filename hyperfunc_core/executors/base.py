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

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()


def create_executor(kind: str, options: dict[str, Any] | None = None) -> Executor:
    """``create_executor("local", {"repoPath": ".", "baseCommit": "HEAD"})``."""
    options = dict(options or {})
    if kind == "local":
        from hyperfunc_core.executors.local import LocalExecutor

        return LocalExecutor(repo_path=options.pop("repoPath", "."), base_commit=options.pop("baseCommit", "HEAD"),
                             **options)
    raise ValueError(f"kind: expected 'local', got {kind!r}")
