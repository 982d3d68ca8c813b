"""What the engine commands share: loading ``FILE:NAME`` targets, a console for output."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import typer
from rich.console import Console


def console() -> Console:
    """A console made per command, so it takes the terminal's (or $COLUMNS') current width."""
    return Console()


def load_target(target: str, what: str) -> tuple[ModuleType, Any]:
    """Import FILE as a module and return it with its attribute NAME; exits with a clear message."""
    path_text, sep, name = target.rpartition(":")
    if not sep or not path_text or not name:
        raise typer.BadParameter(f"expected FILE:{what.upper()}, e.g. train.py:{what}, got {target!r}")
    path = Path(path_text).resolve()
    if not path.is_file():
        raise typer.BadParameter(f"{path_text!r} is not a file")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # so the file's own imports and process trials find it
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise typer.BadParameter(f"{path_text} has no {what} named {name!r}")
    return module, getattr(module, name)
