"""``hyperfunc demo``: the main job, a short run of each engine on the embedded defaults."""

from __future__ import annotations

import typer

from hyperfunc_core.cli import app
from hyperfunc_core.cli.loading import console
from hyperfunc_core.validation import InvalidInput


@app.command()
def demo(
    trials: int = typer.Option(30, help="Trials of the Branin sweep."),
    steps: int = typer.Option(40, help="ES steps of the affine training."),
    generations: int = typer.Option(2, help="Evolution generations after the initial one."),
    offline: bool = typer.Option(
        False, "--offline", help="Use the scripted offline model even if a real one is configured or installed."
    ),
) -> None:
    """Run a short tuning sweep, ES training and evolution run, then say where the reports are."""
    from hyperfunc_core.demo import run_demo
    from hyperfunc_core.settings import get_settings

    out = console()
    try:
        result = run_demo(
            trials,
            steps,
            generations,
            offline=offline,
            say=lambda text: out.print(f"\n[bold cyan]{text}[/]"),
        )
    except (ValueError, FileNotFoundError) as exc:
        raise InvalidInput(str(exc)) from None
    out.print(f"\n[bold]Demo {result.name} finished.[/]")
    for engine in ("sweep", "training", "evolution"):
        out.print(f"  {engine:<9} {result.summary[engine]}")
        out.print(f"  {'':<9} report: {result.reports[engine]}")
    if result.offline:
        out.print(
            "  (evolution ran on the scripted offline model; scripts/setup.sh --local installs a real one, "
            "or set HYPERFUNC_MODEL)"
        )
    home = get_settings().resolved_home
    out.print(f"\nReports are markdown files with PNG plots beside them (under {home / 'runs'}).")
    out.print(
        "Prefect UI: run [bold].venv/bin/hyperfunc server[/] and open http://127.0.0.1:4200 - these runs are "
        "in this project's Prefect database."
    )
    out.print(
        "History: [bold].venv/bin/hyperfunc runs[/]; re-run one: [bold].venv/bin/hyperfunc replay "
        f"{result.name}-branin[/]"
    )
