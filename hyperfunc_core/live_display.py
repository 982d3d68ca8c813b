"""The live progress line a person watches while a sweep, a training run or an evolution runs.

One rich bar per loop: done/total, ETA, elapsed and the loop's own status (best so far, failed,
pruned). While it shows, every log handler that writes to the terminal (Prefect's console handler
included) writes above the bar instead of through it, and Prefect's routine "Beginning subflow run"
/ "Finished in state Completed()" lines are left to the Prefect UI: the bar already says that.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_ROUTINE = re.compile(r"^(Beginning (sub)?flow run|Finished in state Completed\(\)|Created (sub)?flow run)")


class _RoutineLines(logging.Filter):
    """Drops Prefect's INFO lines about a flow or task run starting or completing (they stay in the UI)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("prefect."):
            return True
        return not _ROUTINE.match(str(record.getMessage()))


def _terminal_handlers() -> list[logging.Handler]:
    """Every log handler (of any logger) that writes to this process's terminal streams."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    found: list[logging.Handler] = []
    for lg in loggers:
        for handler in lg.handlers:
            if handler in found:
                continue
            if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) in (
                sys.__stderr__,
                sys.__stdout__,
                sys.stderr,
                sys.stdout,
            ):
                found.append(handler)
    return found


class _PrintAbove:
    """Stands in for a log handler's rich console while the display shows: renders a line as the
    handler's console would (its colours), then prints it above the display. (Setting the console's
    file to the display's proxy does not work: rich unwraps proxies to the real file.)"""

    def __init__(self, original: "Console", target: "Console") -> None:
        self.original, self.target = original, target

    def print(self, *args: Any, **kwargs: Any) -> None:
        from rich.text import Text

        with self.original.capture() as captured:
            self.original.print(*args, **kwargs)
        self.target.print(Text.from_ansi(captured.get().rstrip("\n")), soft_wrap=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class LiveDisplay:
    """``update(done, status)`` from the loop as often as it likes; ``close()`` once (or use ``with``).

    Two lines: the bar (done/total, ETA, elapsed) and the loop's status under it, so neither is cut
    short on a narrow terminal."""

    def __init__(self, title: str, total: int, unit: str, done: int = 0) -> None:
        from rich.console import Console, Group
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn(unit + " · eta"),
            TimeRemainingColumn(),
            TextColumn("· elapsed"),
            TimeElapsedColumn(),
        )
        self.status = Text("", no_wrap=False)
        self.task = self.progress.add_task(title, total=max(1, total), completed=done)
        self.live = Live(
            Group(self.progress, self.status),
            console=Console(stderr=True),
            redirect_stdout=True,
            redirect_stderr=True,
            refresh_per_second=4,
        )
        self.live.start()
        self._moved: list[tuple[Any, str, Any]] = []
        self._filter = _RoutineLines()
        for handler in _terminal_handlers():
            # sys.stderr/sys.stdout are now the display's proxies: what is written to them shows above it
            proxy = sys.stdout if handler.stream is sys.__stdout__ else sys.stderr
            console = getattr(handler, "console", None)
            if console is not None and hasattr(console, "capture"):  # Prefect's handler prints with rich
                self._moved.append((handler, "console", console))
                handler.console = _PrintAbove(console, self.live.console)
            self._moved.append((handler, "stream", handler.stream))
            handler.stream = proxy
            handler.addFilter(self._filter)
        self._closed = False

    def update(self, done: int, status: str = "", total: int | None = None) -> None:
        from rich.text import Text

        changes: dict[str, Any] = {"completed": done}
        if total is not None:
            changes["total"] = max(1, total)
        self.progress.update(self.task, **changes)
        self.status.truncate(0)
        self.status.append_text(Text.from_markup("  " + status))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.live.refresh()
        self.live.stop()
        if not self.live.console.is_terminal:  # piped, its last frame ends without a newline: end the line
            self.live.console.line()
        for obj, attr, value in reversed(self._moved):
            setattr(obj, attr, value)
            if isinstance(obj, logging.Handler):
                obj.removeFilter(self._filter)

    def __enter__(self) -> "LiveDisplay":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def output_console() -> "Console":
    """The console results are printed on: never a newline inside a line (a path stays whole to copy,
    in a terminal too, which wraps it itself); tables take the terminal's width, or 200 columns in a
    pipe or file (``COLUMNS`` wins), where rich would assume 80."""
    import os

    from rich.console import Console

    tty = sys.stdout.isatty()
    return Console(soft_wrap=True, width=None if tty or os.environ.get("COLUMNS") else 200)


def best_text(value: float | None) -> str:
    return "best n/a" if value is None else f"best {value:.6g}"
