"""Executors: isolated workspaces where a generation's patch chain is replayed."""

from hyperfunc_core.executors.base import Executor, PatchError, create_executor
from hyperfunc_core.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "PatchError", "create_executor"]
