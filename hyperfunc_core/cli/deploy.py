"""``hyperfunc deploy``: register the scheduled deployments of ``deployments/prefect.yaml``."""

from __future__ import annotations

from typing import Optional

import typer

from hyperfunc_core.cli import app
from hyperfunc_core.cli.loading import console


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
    from deployments.register import apply_deployments, load_specs

    try:
        applied = apply_deployments(name, pool, with_schedules=not no_schedules)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    specs = {s.name: s for s in load_specs()}
    out = console()
    for full_name, deployment_id in applied.items():
        spec = specs[full_name.split("/", 1)[1]]
        when = "no schedule" if no_schedules else ", ".join(
            f"cron {s['cron']}" if "cron" in s else f"every {s['interval']} s" for s in spec.schedules)
        out.print(f"[bold]{full_name}[/] ({deployment_id}): {when}; pool {pool or spec.work_pool}")
    pools = sorted({pool or specs[f.split('/', 1)[1]].work_pool for f in applied})
    out.print(f"start a worker: prefect worker start --pool {pools[0] if pools else 'hyperfunc-process'} "
              f"(from the project folder, with HYPERFUNC_PROJECT_DIR=$PWD)")
