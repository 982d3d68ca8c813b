"""The ``hyperfunc`` command line. Each engine adds its commands in a module of its own."""

from __future__ import annotations

import os
import sys

import typer

app = typer.Typer(
    help="Tune, train and evolve AI systems, orchestrated by Prefect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    debug: bool = typer.Option(
        False,
        "--debug",
        help="Show the traceback of input errors too (also HYPERFUNC_DEBUG=1).",
        envvar="HYPERFUNC_DEBUG",
    ),
) -> None:
    if debug:
        os.environ["HYPERFUNC_DEBUG"] = "1"


from hyperfunc_core.cli import demo, deploy, evolution, executor, history, model, system, training, tuning  # noqa: E402,F401  (register their commands)


def main() -> None:
    """Run the command; input the user can fix is one line on stderr and exit code 2, never a traceback."""
    from hyperfunc_core.validation import InvalidInput

    try:
        app()
    except SystemExit as exc:
        if exc.code == 130:  # typer's answer to Ctrl-C
            print(
                "interrupted: every finished trial, epoch and generation is kept; "
                "run the same command again (same study or run name) to resume",
                file=sys.stderr,
            )
        raise
    except InvalidInput as exc:
        if os.environ.get("HYPERFUNC_DEBUG", "") not in ("", "0"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
