"""Running the CLI as a person does: in a pseudo-terminal, reading what the screen receives.

``in_terminal`` starts a command on a pty of a given size (so rich sees a terminal and draws its live
display), optionally interrupts it the way Ctrl-C does (SIGINT to its process group) once some text
has appeared, and returns the exit code with the screen's lines (scrollback included) as a terminal would show them.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from typing import NamedTuple


class Run(NamedTuple):
    code: int
    screen: str  # the lines a person sees at the end (each live frame drawn over the one before)
    stream: str  # everything written, escape codes removed: every frame of a live display


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def in_terminal(
    argv: list[str],
    env: dict,
    *,
    cwd: str | None = None,
    columns: int = 120,
    rows: int = 40,
    timeout_s: float = 300,
    interrupt_after: str | None = None,
) -> Run:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)},
        start_new_session=True,  # its own process group, as a shell gives a foreground job
        # and Ctrl-C's default action, as a shell gives it too: a test run started in the background
        # (CI, `cmd &`) ignores SIGINT, and a child would inherit that and never be interrupted
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    interrupted = interrupt_after is None
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the other side closed: the command ended
                    break
                if not data:
                    break
                chunks.append(data)
            if not interrupted and interrupt_after in _text(chunks):
                os.killpg(process.pid, signal.SIGINT)
                interrupted = True
            if process.poll() is not None and not ready:
                break
        else:
            os.killpg(process.pid, signal.SIGKILL)
            raise TimeoutError(f"{argv} still ran after {timeout_s} s; screen so far:\n{_text(chunks)[-3000:]}")
    finally:
        os.close(master)
    raw = b"".join(chunks).decode("utf-8", "replace")
    return Run(process.wait(timeout=60), screen(raw), ANSI.sub("", raw))


def _text(chunks: list[bytes]) -> str:
    return ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


CONTROL = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\x1b[=>]|[\r\n\b]")


def screen(raw: str) -> str:
    """The lines a terminal shows (scrollback included) after ``raw`` was written to it: cursor moves
    and line erasing applied, as rich's live display uses them to redraw itself in place."""
    lines, row, col, pos = [""], 0, 0, 0

    def write(text: str) -> None:
        nonlocal col
        line = lines[row].ljust(col)
        lines[row] = line[:col] + text + line[col + len(text) :]
        col += len(text)

    for match in CONTROL.finditer(raw):
        write(raw[pos : match.start()])
        pos = match.end()
        token, params, command = match.group(0), match.group(1) or "", match.group(2)
        count = int(params) if params.isdigit() else 1
        if token == "\n":
            row += 1
            col = 0
            if row == len(lines):
                lines.append("")
        elif token == "\r":
            col = 0
        elif token == "\b":
            col = max(0, col - 1)
        elif command == "A":
            row = max(0, row - count)
        elif command == "B":
            row = min(len(lines) - 1, row + count)
        elif command == "G":
            col = count - 1
        elif command == "K":
            lines[row] = "" if params == "2" else lines[row][:col] if params in ("", "0") else lines[row]
    write(raw[pos:])
    return "\n".join(line.rstrip() for line in lines)
