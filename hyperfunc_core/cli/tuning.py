"""``hyperfunc tune``, ``hyperfunc studies`` and ``hyperfunc study``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from hyperfunc_core.cli import app
from hyperfunc_core.cli.loading import console
from hyperfunc_core.validation import InvalidInput


@app.command()
def tune(
    target: str = typer.Argument(..., help="FILE:OBJECTIVE, e.g. sweep.py:objective"),
    space_var: str = typer.Option("SPACE", help="Name of the search-space dict in FILE."),
    options_var: str = typer.Option("TUNE_OPTIONS", help="Name of an optional dict of tune() options in FILE."),
    strategy: Optional[str] = typer.Option(
        None, help="random, grid, beam_search, bayesian, llm_agent, llm_branching_agent"
    ),
    max_trials: Optional[int] = typer.Option(None),
    max_concurrent: Optional[int] = typer.Option(None),
    metric: Optional[str] = typer.Option(None, help="The value to optimise; several: loss,latency"),
    mode: Optional[str] = typer.Option(None, help="max or min; one per metric: min,min"),
    storage: Optional[str] = typer.Option(None, help="Database URL; default: this project's database."),
    study_name: Optional[str] = typer.Option(None, help="Run again with the same name to resume."),
    early_stopping: Optional[str] = typer.Option(
        None, help="median, aggressive, patient, percentile, asha, successive_halving or hyperband"
    ),
    executor: Optional[str] = typer.Option(None, help="thread or process"),
    seed: Optional[int] = typer.Option(None),
) -> None:
    """Tune OBJECTIVE in FILE over the space FILE defines; flags override FILE's TUNE_OPTIONS."""
    from hyperfunc_core.jobs import tune_target

    result = tune_target(
        target,
        space_var,
        options_var,
        strategy=strategy,
        max_trials=max_trials,
        max_concurrent=max_concurrent,
        metric=_listed(metric),
        mode=_listed(mode),
        storage=storage,
        study_name=study_name,
        early_stopping=early_stopping,
        executor=executor,
        seed=seed,
        show_progress=True,
        show_summary=True,
    )
    best = result["best"]
    console().print(
        f"study [bold]{result['study_name']}[/]: best {result['metric']} = "
        f"{best['value'] if best else 'n/a'} with {best['params'] if best else '-'}"
    )
    console().print(f"report: {result['report']}")


def _listed(value: str | None) -> str | list[str] | None:
    """``loss,latency`` on the command line is the list tune() takes for several objectives."""
    return value.split(",") if value and "," in value else value


@app.command()
def studies(
    storage: Optional[str] = typer.Option(None, help="Database URL; default: this project's database."),
) -> None:
    """List the studies in a database with their trial counts and best values."""
    from hyperfunc_core.tuning.study_store import list_studies

    table = Table(title="studies")
    for column in ("name", "strategy", "metric", "trials", "complete", "failed", "pruned", "best"):
        table.add_column(column)
    for row in list_studies(storage):
        counts = row["counts"]
        table.add_row(
            row["name"],
            row["strategy"],
            f"{row['metric']} ({row['mode']})",
            str(sum(counts.values())),
            str(counts.get("complete", 0)),
            str(counts.get("failed", 0)),
            str(counts.get("pruned", 0)),
            "" if row["best"] is None else f"{row['best']:.6g}",
        )
    console().print(table)


@app.command()
def study(
    name: str = typer.Argument(..., help="The study's name."),
    storage: Optional[str] = typer.Option(None, help="Database URL; default: this project's database."),
    format: str = typer.Option("table", "--format", help="table, csv or json (one row per trial, Optuna's columns)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the csv or json to this file."),
) -> None:
    """Show every trial of one study, or export them as CSV or JSON."""
    from hyperfunc_core.tuning.export import FORMATS, rows_text, study_rows

    if format not in FORMATS:
        raise InvalidInput(f"--format: expected one of {', '.join(FORMATS)}, got {format!r}")
    rows, found = study_rows(name, storage)
    if format != "table":
        text = rows_text(rows, format)
        if output:
            Path(output).write_text(text)
            console().print(f"{len(rows)} trials of study {name} written to {output}")
        else:
            sys.stdout.write(text)
        return
    table = Table(title=f"study {name}: {found.strategy}, {found.metric} ({found.mode})")
    for column in ("#", "trial", "state", found.metric, "params", "error"):
        table.add_column(column)
    for row in rows:
        params = {k.removeprefix("params_"): v for k, v in row.items() if k.startswith("params_")}
        table.add_row(
            str(row["number"]),
            row["trial_id"],
            row["state"],
            "" if row["value"] is None else f"{row['value']:.6g}",
            str(params),
            row["error"] or "",
        )
    console().print(table)
