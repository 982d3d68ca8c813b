"""The ``hyperfunc`` command line. Each engine adds its commands in a module of its own."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Tune, train and evolve AI systems, orchestrated by Prefect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

from hyperfunc_core.cli import demo, deploy, evolution, executor, history, system, training, tuning  # noqa: E402,F401  (register their commands)


def main() -> None:
    app()
