"""Tools agents call through native function calling: the ``Tool`` type, bash and editor.

The MetaAgent's two framework tools work inside one workspace folder:

- ``bash``: one persistent shell per workspace (``cd`` and variables carry over between
  commands), a timeout per command (the shell is restarted after one), long output cut
  to its head and tail. The shell runs where the workspace's commands run (inside the
  Docker executor's container, see ``executors/commands.py``).
- ``editor``: ``view``, ``create``, ``str_replace``, ``insert`` and ``undo_edit``; every
  path is resolved inside the workspace, and one that leaves it (``..``, an absolute path
  elsewhere, a symlink out) is refused with a message that says so.

A tool returns text for the model; a tool error is returned as text too, so the agent can
read it and try again.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperfunc_core.executors.commands import chown_like, runner_for

MAX_OUTPUT_CHARS = 10_000


@dataclass
class Tool:
    """A function the model may call: its name, description, JSON-schema parameters and body."""

    name: str
    description: str
    parameters: dict
    fn: Callable[..., Any]

    def schema(self) -> dict:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}

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


class BashSession:
    """A persistent ``bash`` in ``workdir``; ``run`` returns a command's output and exit status."""

    def __init__(self, workdir: str | Path, timeout_s: float = 60.0) -> None:
        self.workdir, self.timeout_s = str(workdir), timeout_s
        self.runner = runner_for(workdir)
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            argv = self.runner.argv(["bash", "--noprofile", "--norc"], self.workdir, stdin=True)
            self._proc = subprocess.Popen(argv, cwd=self.runner.local_cwd(self.workdir), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                          start_new_session=True)
        return self._proc

    def run(self, command: str, timeout_s: float | None = None) -> str:
        if not isinstance(command, str) or not command.strip():
            return "error: command: expected a non-empty shell command"
        with self._lock:
            proc = self._start()
            marker = f"__hyperfunc_done_{uuid.uuid4().hex}__"
            proc.stdin.write(f"{command}\nprintf '\\n{marker}%s\\n' \"$?\"\n")
            proc.stdin.flush()
            lines: list[str] = []
            status: list[str] = []

            def read() -> None:
                for line in proc.stdout:
                    if line.startswith(marker):
                        status.append(line[len(marker):].strip())
                        return
                    lines.append(line)

            limit = self.runner.limit(timeout_s or self.timeout_s)
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            reader.join(limit)
            if reader.is_alive():
                self.close()
                self.runner.kill_all()  # what the shell started where it ran (a container) dies with it
                return truncate("".join(lines)) + f"\nerror: the command timed out after {limit:g} s and was killed; " \
                                                  f"the shell was restarted (state such as cd and variables is lost)"
            output = "".join(lines).rstrip("\n")  # with the newline printf put before the marker
            code = status[0] if status else "?"
            return truncate(output) + ("" if code == "0" else f"\n[exit status {code}]")

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                self._proc.kill()
            self._proc.wait()
        self._proc = None


class WorkspaceEditor:
    """File viewing and editing confined to one folder, with per-file undo."""

    def __init__(self, workdir: str | Path) -> None:
        self.root = Path(workdir).resolve()
        self._history: dict[Path, list[str | None]] = {}

    def resolve(self, path: str) -> Path:
        if not isinstance(path, str) or not path:
            raise ValueError("path: expected a file path inside the workspace")
        candidate = Path(path)
        full = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        if full != self.root and self.root not in full.parents:
            raise ValueError(f"path {path!r} is outside the workspace {self.root}; only files inside it can be used")
        return full

    def __call__(self, command: str, path: str, file_text: str | None = None, old_str: str | None = None,
                 new_str: str | None = None, insert_line: int | None = None, view_range: list[int] | None = None) -> str:
        try:
            full = self.resolve(path)
            if command == "view":
                return self.view(full, view_range)
            if command == "create":
                if file_text is None:
                    raise ValueError("create: file_text is required")
                self._remember(full)
                created = [p for p in (full, *full.parents) if p != self.root and self.root in p.parents and not p.exists()]
                full.parent.mkdir(parents=True, exist_ok=True)
                full.write_text(file_text)
                chown_like(created, self.root)
                return f"created {self._rel(full)} ({len(file_text)} characters)"
            if command == "str_replace":
                return self.str_replace(full, old_str, new_str or "")
            if command == "insert":
                return self.insert(full, insert_line, new_str)
            if command == "undo_edit":
                return self.undo(full)
            raise ValueError(f"command: expected view, create, str_replace, insert or undo_edit, got {command!r}")
        except (ValueError, OSError) as exc:
            return f"error: {exc}"

    def view(self, full: Path, view_range: list[int] | None) -> str:
        if full.is_dir():
            entries = sorted(p for p in full.rglob("*") if ".git" not in p.relative_to(self.root).parts)
            return "\n".join(self._rel(p) + ("/" if p.is_dir() else "") for p in entries[:500]) or "(empty folder)"
        lines = self._read(full).splitlines()
        start, end = 1, len(lines)
        if view_range:
            start, end = int(view_range[0]), (len(lines) if int(view_range[1]) == -1 else int(view_range[1]))
        return truncate("\n".join(f"{i:6}\t{lines[i - 1]}" for i in range(max(1, start), min(end, len(lines)) + 1)))

    def str_replace(self, full: Path, old: str | None, new: str) -> str:
        if not old:
            raise ValueError("str_replace: old_str is required and must not be empty")
        text = self._read(full)
        count = text.count(old)
        if count != 1:
            raise ValueError(f"str_replace: old_str occurs {count} times in {self._rel(full)}; it must occur exactly once")
        self._remember(full)
        full.write_text(text.replace(old, new))
        return f"edited {self._rel(full)}"

    def insert(self, full: Path, line: int | None, new: str | None) -> str:
        if new is None or line is None:
            raise ValueError("insert: insert_line and new_str are required")
        lines = self._read(full).splitlines(keepends=True)
        if not 0 <= int(line) <= len(lines):
            raise ValueError(f"insert: insert_line must be between 0 and {len(lines)}, got {line}")
        self._remember(full)
        text = new if new.endswith("\n") else new + "\n"
        lines.insert(int(line), text)
        full.write_text("".join(lines))
        return f"inserted {text.count(chr(10))} line(s) after line {line} of {self._rel(full)}"

    def undo(self, full: Path) -> str:
        stack = self._history.get(full)
        if not stack:
            raise ValueError(f"undo_edit: no edit of {self._rel(full)} to undo")
        previous = stack.pop()
        if previous is None:
            full.unlink(missing_ok=True)
            return f"undid the creation of {self._rel(full)}"
        full.write_text(previous)
        return f"restored {self._rel(full)} to its previous content"

    def _remember(self, full: Path) -> None:
        self._history.setdefault(full, []).append(full.read_text() if full.exists() else None)

    def _read(self, full: Path) -> str:
        if not full.is_file():
            raise ValueError(f"{self._rel(full)} does not exist or is not a file")
        return full.read_text()

    def _rel(self, full: Path) -> str:
        return str(full.relative_to(self.root)) if full != self.root else "."


@dataclass
class FrameworkTools:
    """The MetaAgent's bash and editor, bound to one workspace when the agent runs."""

    bash_timeout_s: float = 60.0
    sessions: list[BashSession] = field(default_factory=list)

    def bind(self, workdir: str | Path) -> list[Tool]:
        shell, editor = BashSession(workdir, self.bash_timeout_s), WorkspaceEditor(workdir)
        self.sessions.append(shell)
        return [
            Tool("bash", f"Run a shell command in the workspace (a persistent bash; timeout {self.bash_timeout_s:g} s; "
                         f"long output is cut).",
                 {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
                 lambda command: shell.run(command)),
            Tool("editor", "View or edit files inside the workspace: view, create, str_replace, insert, undo_edit.",
                 {"type": "object", "properties": {
                     "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
                     "path": {"type": "string"}, "file_text": {"type": "string"}, "old_str": {"type": "string"},
                     "new_str": {"type": "string"}, "insert_line": {"type": "integer"},
                     "view_range": {"type": "array", "items": {"type": "integer"}}},
                  "required": ["command", "path"]},
                 editor),
        ]

    def close(self) -> None:
        for shell in self.sessions:
            shell.close()
        self.sessions.clear()


def get_framework_tools(bash_timeout_s: float = 60.0) -> FrameworkTools:
    """The MetaAgent's built-in tools (bash + editor), bound to each generation's workspace."""
    return FrameworkTools(bash_timeout_s)
