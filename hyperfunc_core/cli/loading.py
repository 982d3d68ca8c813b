"""What the engine commands share: target errors as usage errors, a console for output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console


def console() -> Console:
    """A console made per command, so it takes the terminal's (or $COLUMNS') current width."""
    return Console()


@contextmanager
def target_errors() -> Iterator[None]:
    """A target that cannot be loaded is a usage error: typer prints it without a traceback."""
    from hyperfunc_core.jobs import TargetError

    try:
        yield
    except TargetError as exc:
        raise typer.BadParameter(str(exc)) from None
