"""``hyperfunc runs`` and ``hyperfunc replay``: the history of all three engines."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from hyperfunc_core.cli import app
from hyperfunc_core.cli.loading import console
from hyperfunc_core.validation import InvalidInput


@app.command()
def runs(
    storage: Optional[str] = typer.Option(None, help="Database URL; default: this project's database."),
    engine: Optional[str] = typer.Option(None, help="Only tuning, training or evolution."),
    no_prefect: bool = typer.Option(False, "--no-prefect", help="Only the database (no Prefect API call)."),
    limit: int = typer.Option(50, help="Newest runs shown."),
    compare: bool = typer.Option(False, "--compare", help="Show the runs NAMES side by side: settings and results."),
    names: Optional[list[str]] = typer.Argument(None, help="With --compare: two or more run names."),
) -> None:
    """Past sweeps, ES runs and evolution runs: status, duration, best score, and their Prefect flow runs;
    ``hyperfunc runs --compare A B`` puts runs side by side."""
    from hyperfunc_core.history import list_runs

    if compare or names:
        _compare(names or [], storage)
        return

    if engine not in (None, "tuning", "training", "evolution"):
        raise InvalidInput(f"--engine: expected tuning, training or evolution, got {engine!r}")
    found = [r for r in list_runs(storage, with_prefect=not no_prefect) if engine is None or r.engine == engine][:limit]
    table = Table(title=f"{len(found)} runs")
    for column in ("engine", "run", "status", "started", "duration", "best", "prefect", "detail"):
        table.add_column(column)
    for r in found:
        table.add_row(
            r.engine,
            r.name,
            r.status,
            r.started_at.strftime("%Y-%m-%d %H:%M") if r.started_at else "",
            "" if r.duration_s is None else f"{r.duration_s:.1f}s",
            "" if r.best is None else f"{r.best:.6g}",
            r.flow_state or "",
            r.detail,
        )
    console().print(table)


@app.command()
def replay(
    run: str = typer.Argument(..., help="A study, ES run or evolution run name."),
    item: Optional[str] = typer.Option(
        None,
        "--item",
        help="Trial number, epoch number or generation id (default: best trial, last epoch, best generation).",
    ),
    storage: Optional[str] = typer.Option(None, help="Database URL; default: this project's database."),
    model: Optional[str] = typer.Option(None, help="Evolution: the TaskAgent's model (default: the run's)."),
    api_base: Optional[str] = typer.Option(None, help="Evolution: the model's endpoint."),
) -> None:
    """Re-run a finished trial, ES epoch or generation from its recorded inputs; say whether it reproduced."""
    from hyperfunc_core.history import replay as do_replay

    llm = {k: v for k, v in {"model": model, "api_base": api_base}.items() if v is not None}
    outcome = do_replay(run, item, storage, **llm)
    console().print(outcome.describe())
    if not outcome.reproduced:
        raise typer.Exit(3)


def _compare(names: list[str], storage: Optional[str]) -> None:
    """Runs side by side: one column per run, one row per setting or result any of them has."""
    from hyperfunc_core.history.runs import run_details

    if len(names) < 2:
        raise InvalidInput(f"--compare: expected two or more run names (hyperfunc runs --compare A B), got {names}")
    details = [run_details(name, storage) for name in names]
    fields: list[str] = []
    for d in details:
        fields.extend(k for k in d if k not in fields)
    table = Table(title="runs compared")
    table.add_column("")
    for name in names:
        table.add_column(name)
    for field in fields:
        values = [d.get(field, "") for d in details]
        style = "bold yellow" if len(set(values)) > 1 else None
        table.add_row(field, *values, style=style)
    console().print(table)
