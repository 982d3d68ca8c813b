"""``hyperfunc deploy``: register the scheduled deployments of ``deployments/prefect.yaml``."""

from __future__ import annotations

from typing import Optional

import typer

from hyperfunc_core.cli import app
from hyperfunc_core.cli.loading import console
from hyperfunc_core.validation import InvalidInput


@app.command()
def deploy(
    name: Optional[list[str]] = typer.Option(None, "--name", help="Only this deployment (repeatable)."),
    pool: Optional[str] = typer.Option(None, help="Work pool (default: the one prefect.yaml names)."),
    no_schedules: bool = typer.Option(False, "--no-schedules", help="Register without their schedules."),
) -> None:
    """Validate and apply the deployments (a sweep, an ES training, an evolution loop) with their schedules.

    Then start a worker on each machine that should run them:
    ``prefect worker start --pool hyperfunc-process`` from the project folder.
    """
    from deployments.register import apply_deployments

    try:
        applied = apply_deployments(name, pool, with_schedules=not no_schedules)
    except FileNotFoundError as exc:
        raise InvalidInput(str(exc)) from None
    out = console()
    for item in applied:
        when = "no schedule" if no_schedules else item.spec.schedule_text()
        out.print(f"[bold]{item.full_name}[/] ({item.id}): {when}; pool {item.pool}")
    out.print(
        f"start a worker: prefect worker start --pool {applied[0].pool if applied else 'hyperfunc-process'} "
        f"(from the project folder, with HYPERFUNC_PROJECT_DIR=$PWD)"
    )
