"""Tools agents call through native function calling: the ``Tool`` type, bash and editor.

The MetaAgent's two framework tools work inside one workspace folder:

- ``bash``: a shell session per workspace (``cd``, variables and functions carry over
  between commands); each command runs where the workspace's commands run (on this
  machine, in the sandbox, in the container: ``executors/commands.py``) under a timeout,
  and nothing it started outlives it; long output is cut to its head and tail.
- ``editor``: ``view``, ``create``, ``str_replace``, ``insert`` and ``undo_edit`` through
  the link-safe file layer (``executors/safe_files.py``): a path that leaves the workspace
  (``..``, an absolute path elsewhere, a symlink, a hard link), a FIFO or an oversized file
  is refused with a message that says so.

A tool returns text for the model; a tool error is returned as text too, so the agent can
read it and try again.
"""

from __future__ import annotations

import inspect
import shlex
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperfunc_core.executors.commands import WorkspaceFiles, run_in_workspace
from hyperfunc_core.executors.safe_files import parts_of

MAX_OUTPUT_CHARS = 10_000


@dataclass
class Tool:
    """A function the model may call: its name, description, JSON-schema parameters and body."""

    name: str
    description: str
    parameters: dict
    fn: Callable[..., Any]

    def schema(self) -> dict:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    async def acall(self, arguments: dict) -> str:
        result = self.fn(**arguments)
        if inspect.isawaitable(result):
            result = await result
        return result if isinstance(result, str) else str(result)


def truncate(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the head and the tail of a long output, saying how much was cut."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - limit} characters cut] ...\n{text[-half:]}"


# One command of the session: restore the state the last command left (cwd, variables, functions),
# run the command, then print a marker and the new state. $1: the command, $2: the marker, stdin: the state.
_SESSION_STEP = r"""exec 2>&1
__hf_state=$(cat)
exec </dev/null
__hf_base=" $(compgen -v | tr '\n' ' ') "
eval "$__hf_state" >/dev/null 2>&1
unset __hf_state
eval "$1"
__hf_status=$?
printf '\n%s\n' "$2"
printf 'cd -- %q\n' "$PWD"
export -p | grep -vE '^declare -x (OLDPWD|PWD|SHLVL|_)(=|$)'
for __hf_name in $(compgen -v); do
  case "$__hf_base" in *" $__hf_name "*) continue ;; esac
  case "$__hf_name" in __hf_*) continue ;; esac
  declare -p "$__hf_name" 2>/dev/null
done
declare -f
exit "$__hf_status"
"""


class BashSession:
    """The MetaAgent's shell in ``workdir``: ``cd``, variables and functions carry over between commands.

    Each command runs as its own process where the workspace's commands run (``run_in_workspace``:
    on this machine, in the sandbox or in the container), under the timeout, and whatever it
    started in the background is killed when it returns. The state a command leaves (its
    working folder, variables, functions) is carried to the next one; a command that times
    out leaves the state as it was before it.
    """

    def __init__(self, workdir: str | Path, timeout_s: float = 60.0) -> None:
        self.workdir, self.timeout_s = str(workdir), timeout_s
        self.state = f"cd -- {shlex.quote(self.workdir)}"
        self._lock = threading.Lock()

    def run(self, command: str, timeout_s: float | None = None) -> str:
        if not isinstance(command, str) or not command.strip():
            return "error: command: expected a non-empty shell command"
        with self._lock:
            marker = f"__hyperfunc_state_{uuid.uuid4().hex}__"
            done = run_in_workspace(
                self.workdir,
                ["bash", "--noprofile", "--norc", "-c", _SESSION_STEP, "session", command, marker],
                timeout_s or self.timeout_s,
                input=self.state,
            )
            output, found, state = done.stdout.rpartition(f"\n{marker}\n")
            if not found:
                output = done.stdout
            if done.timed_out:
                return truncate(output.rstrip("\n")) + (
                    f"\nerror: the command timed out after {done.limit_s:g} s "
                    f"and was killed, with everything it started; cd and "
                    f"variables are as they were before it"
                )
            if found:
                self.state = state
            status = "" if done.returncode == 0 else f"\n[exit status {done.returncode}]"
            return truncate(output.rstrip("\n")) + status

    def close(self) -> None:
        """Nothing runs between commands; kept for the callers that close their tools."""


class WorkspaceEditor:
    """File viewing and editing confined to one folder, with per-file undo.

    Every operation goes through ``WorkspaceFiles``: a path that leaves the workspace, or
    crosses a link, a hard-linked file, a FIFO or a file over the size limit is refused with
    a message the model reads; in the Docker executor the operations run inside the container.
    """

    def __init__(self, workdir: str | Path) -> None:
        self.files = WorkspaceFiles(workdir)
        self.root = Path(self.files.root)
        self._history: dict[str, list[str | None]] = {}

    def __call__(
        self,
        command: str,
        path: str,
        file_text: str | None = None,
        old_str: str | None = None,
        new_str: str | None = None,
        insert_line: int | None = None,
        view_range: list[int] | None = None,
    ) -> str:
        try:
            rel = "/".join(parts_of(str(self.root), path)) or "."
            if command == "view":
                return self.view(rel, view_range)
            if command == "create":
                if file_text is None:
                    raise ValueError("create: file_text is required")
                self._write(rel, file_text)
                return f"created {rel} ({len(file_text)} characters)"
            if command == "str_replace":
                return self.str_replace(rel, old_str, new_str or "")
            if command == "insert":
                return self.insert(rel, insert_line, new_str)
            if command == "undo_edit":
                return self.undo(rel)
            raise ValueError(f"command: expected view, create, str_replace, insert or undo_edit, got {command!r}")
        except (ValueError, OSError) as exc:
            return f"error: {exc}"

    def view(self, rel: str, view_range: list[int] | None) -> str:
        kind = self.files.kind(rel)
        if kind == "dir":
            return "\n".join(self.files.listing(rel)) or "(empty folder)"
        lines = self._read(rel).splitlines()
        start, end = 1, len(lines)
        if view_range:
            start, end = int(view_range[0]), (len(lines) if int(view_range[1]) == -1 else int(view_range[1]))
        return truncate("\n".join(f"{i:6}\t{lines[i - 1]}" for i in range(max(1, start), min(end, len(lines)) + 1)))

    def str_replace(self, rel: str, old: str | None, new: str) -> str:
        if not old:
            raise ValueError("str_replace: old_str is required and must not be empty")
        text = self._read(rel)
        count = text.count(old)
        if count != 1:
            raise ValueError(f"str_replace: old_str occurs {count} times in {rel}; it must occur exactly once")
        self._write(rel, text.replace(old, new))
        return f"edited {rel}"

    def insert(self, rel: str, line: int | None, new: str | None) -> str:
        if new is None or line is None:
            raise ValueError("insert: insert_line and new_str are required")
        before = self._read(rel)
        lines = before.splitlines(keepends=True)
        if not 0 <= int(line) <= len(lines):
            raise ValueError(f"insert: insert_line must be between 0 and {len(lines)}, got {line}")
        text = new if new.endswith("\n") else new + "\n"
        lines.insert(int(line), text)
        self._write(rel, "".join(lines))
        return f"inserted {text.count(chr(10))} line(s) after line {line} of {rel}"

    def undo(self, rel: str) -> str:
        stack = self._history.get(rel)
        if not stack:
            raise ValueError(f"undo_edit: no edit of {rel} to undo")
        previous = stack.pop()
        if previous is None:
            self.files.remove(rel)
            return f"undid the creation of {rel}"
        self.files.write_text(rel, previous)
        return f"restored {rel} to its previous content"

    def _write(self, rel: str, text: str) -> None:
        """Write ``rel``, remembering what it held for undo (one file operation: the write returns it)."""
        self._history.setdefault(rel, []).append(self.files.write_text(rel, text))

    def _read(self, rel: str) -> str:
        return self.files.read_text(rel)


@dataclass
class FrameworkTools:
    """The MetaAgent's bash and editor, bound to one workspace when the agent runs."""

    bash_timeout_s: float = 60.0
    sessions: list[BashSession] = field(default_factory=list)

    def bind(self, workdir: str | Path) -> list[Tool]:
        shell, editor = BashSession(workdir, self.bash_timeout_s), WorkspaceEditor(workdir)
        self.sessions.append(shell)
        return [
            Tool(
                "bash",
                f"Run a shell command in the workspace (a persistent bash; timeout {self.bash_timeout_s:g} s; "
                f"long output is cut).",
                {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
                lambda command: shell.run(command),
            ),
            Tool(
                "editor",
                "View or edit files inside the workspace: view, create, str_replace, insert, undo_edit.",
                {
                    "type": "object",
                    "properties": {
                        "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
                        "path": {"type": "string"},
                        "file_text": {"type": "string"},
                        "old_str": {"type": "string"},
                        "new_str": {"type": "string"},
                        "insert_line": {"type": "integer"},
                        "view_range": {"type": "array", "items": {"type": "integer"}},
                    },
                    "required": ["command", "path"],
                },
                editor,
            ),
        ]

    def close(self) -> None:
        for shell in self.sessions:
            shell.close()
        self.sessions.clear()


def get_framework_tools(bash_timeout_s: float = 60.0) -> FrameworkTools:
    """The MetaAgent's built-in tools (bash + editor), bound to each generation's workspace."""
    return FrameworkTools(bash_timeout_s)
