"""The local executor: a private repository per generation, on this machine, with no isolation.

``setup`` exports the pinned base commit into a fresh folder with its own ``git init`` (see
``executors/workspace.py``): nothing of the user's repository is shared, so git commands
in the workspace (``update-ref``, ``config``, hooks, ``gc``) change only the workspace. The
agents' commands run on this machine as this process's user, each in a process group that is
killed when the command returns; the MetaAgent's editor and every host-side read of the
workspace never follow a link. What this mode does **not** give: a command that names an
outside path (``/home/...``, the user's repository by its absolute path) can read and write
it, reach the network, and escape the process-group kill with ``setsid``. Use the sandbox or
Docker executor for code you do not trust.
"""

from __future__ import annotations

from hyperfunc_core.executors.workspace import (  # noqa: F401 - the names other modules import from here
    GIT_IDENTITY,
    NOT_CHANGES,
    RepoSource,
    WorkspaceExecutor,
    git,
    locate_source,
)


class LocalExecutor(WorkspaceExecutor):
    mode = "local"
