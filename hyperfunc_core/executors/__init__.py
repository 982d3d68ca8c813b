"""Executors: isolated workspaces where a generation's patch chain is replayed (local or Docker)."""

from hyperfunc_core.executors.base import Executor, PatchError, create_executor
from hyperfunc_core.executors.commands import CommandTimeout, run_in_workspace
from hyperfunc_core.executors.docker import DockerExecutor
from hyperfunc_core.executors.local import LocalExecutor

__all__ = ["CommandTimeout", "DockerExecutor", "Executor", "LocalExecutor", "PatchError", "create_executor",
           "run_in_workspace"]
