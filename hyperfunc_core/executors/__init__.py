"""Executors: a private workspace per generation where a patch chain is replayed and agent code runs
(local, bubblewrap sandbox or Docker; see the README's "Where agent code runs")."""

from hyperfunc_core.executors.base import Executor, PatchError, check_mode, create_executor, strongest_mode
from hyperfunc_core.executors.commands import CommandTimeout, WorkspaceFiles, run_in_workspace
from hyperfunc_core.executors.docker import DockerExecutor
from hyperfunc_core.executors.local import LocalExecutor
from hyperfunc_core.executors.safe_files import UnsafePath
from hyperfunc_core.executors.sandbox import SandboxExecutor

__all__ = [
    "CommandTimeout",
    "DockerExecutor",
    "Executor",
    "LocalExecutor",
    "PatchError",
    "SandboxExecutor",
    "UnsafePath",
    "WorkspaceFiles",
    "check_mode",
    "create_executor",
    "run_in_workspace",
    "strongest_mode",
]
