"""``hyperfunc train FILE:SYSTEM`` and ``hyperfunc es-runs``."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from hyperfunc_core.cli import app
from hyperfunc_core.cli.loading import console


@app.command()
def train(
    target: str = typer.Argument(..., help="FILE:SYSTEM, a HyperSystem subclass (or instance, or factory) in FILE"),
    train_var: str = typer.Option("TRAIN", help="Name of the list of training Examples in FILE."),
    val_var: str = typer.Option("VAL", help="Name of an optional list of validation Examples in FILE."),
    metric_var: str = typer.Option("METRIC", help="Name of metric_fn(preds, expected) in FILE (higher is better)."),
    options_var: str = typer.Option("TRAIN_OPTIONS", help="Name of an optional dict of optimize() options in FILE."),
    steps: Optional[int] = typer.Option(None, help="ES steps (default: the system optimizer's)."),
    steps_per_epoch: Optional[int] = typer.Option(None),
    batch_size: Optional[int] = typer.Option(None, help="Examples per ES step (default: all)."),
    strategy: Optional[str] = typer.Option(
        None, help="ES strategy: openai_es, cma_es, sep_cma_es, snes, pgpe or cem (default: the system optimizer's)."
    ),
    run_name: Optional[str] = typer.Option(None, help="Run again with the same name to resume."),
    keep: Optional[str] = typer.Option(
        None, help="θ the run ends with: final, or best (the epoch that scored best on VAL, else on TRAIN)."
    ),
    storage: Optional[str] = typer.Option(None, help="Database URL; default: this project's database."),
    local: bool = typer.Option(False, "--local", help="Run the plain loop instead of the Prefect flow."),
) -> None:
    """Train SYSTEM's θ with ES on FILE's TRAIN and METRIC; checkpointed per epoch, resumable by run name."""
    from hyperfunc_core.jobs import train_target

    result = train_target(
        target,
        train_var,
        metric_var,
        options_var,
        orchestrate=not local,
        show_progress=True,
        val_var=val_var,
        steps=steps,
        steps_per_epoch=steps_per_epoch,
        batch_size=batch_size,
        strategy=strategy,
        run_name=run_name,
        storage=storage,
        keep=keep,
    )
    out = console()
    out.print(
        f"ES run [bold]{result['run_name']}[/]: {result['steps']} steps in {result['epochs']} epochs"
        + (f" (resumed at epoch {result['resumed_from_epoch']})" if result["resumed_from_epoch"] is not None else "")
    )
    out.print(
        f"final θ: train score {result['train_score']:.6g}"
        + (f", val score {result['val_score']:.6g}" if result["val_score"] is not None else "")
    )
    if result.get("best_epoch") is not None:
        out.print(
            f"best epoch {result['best_epoch']} ({result['best_split']} score {result['best_score']:.6g}); "
            f"kept the {result['kept']} θ; both saved beside the report (best.pt, final.pt)"
        )
    out.print(f"report: {result['report']}")


@app.command("es-runs")
def es_runs(
    storage: Optional[str] = typer.Option(None, help="Database URL; default: this project's database."),
) -> None:
    """List ES training runs with their epochs and latest scores."""
    from sqlmodel import select

    from hyperfunc_core.storage import ESEpoch, ESRun, session_scope

    table = Table(title="ES runs")
    for column in ("name", "status", "epochs", "train score", "val score", "checkpoints"):
        table.add_column(column)
    with session_scope(storage) as session:
        for run in session.exec(select(ESRun).order_by(ESRun.id)).all():
            epochs = session.exec(select(ESEpoch).where(ESEpoch.run_id == run.id).order_by(ESEpoch.epoch)).all()
            last = epochs[-1].metrics if epochs else {}
            fmt = lambda v: "" if v is None else f"{v:.6g}"
            table.add_row(
                run.name,
                run.status,
                str(len(epochs)),
                fmt(last.get("train_score")),
                fmt(last.get("val_score")),
                run.output_dir,
            )
    console().print(table)
