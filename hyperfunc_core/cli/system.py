"""Commands about the runtime itself: ``server`` and ``doctor``."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from importlib import metadata

import typer
from rich.console import Console
from rich.table import Table

from hyperfunc_core.cli import app
from hyperfunc_core.settings import SERVER_FILE, get_settings

console = Console()


@app.command()
def server(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(4200, help="Port for the API and the UI."),
) -> None:
    """Start a Prefect server with its UI for this project's home.

    While it runs, every hyperfunc run in this home uses it instead of starting an
    ephemeral server, and shows up in its UI.
    """
    settings = get_settings()
    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PREFECT_HOME=str(settings.prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.pop("PREFECT_API_URL", None)
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env)
    api_url = f"http://{host}:{port}/api"
    info_path = home / SERVER_FILE
    info_path.write_text(json.dumps({"pid": proc.pid, "api_url": api_url, "ui_url": f"http://{host}:{port}"}))
    console.print(f"Prefect server for [bold]{home}[/] at {api_url} (UI: http://{host}:{port}); Ctrl-C stops it.")

    def _stop(*_: object) -> None:
        proc.terminate()

    signal.signal(signal.SIGTERM, _stop)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        code = proc.wait()
    finally:
        info_path.unlink(missing_ok=True)
    raise typer.Exit(code if code and code > 0 else 0)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _check_database() -> tuple[bool, str]:
    from sqlalchemy import text

    from hyperfunc_core.storage import describe_url, get_engine

    url = get_settings().resolved_database_url
    try:
        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
        return True, describe_url(url)
    except Exception as exc:  # noqa: BLE001 - doctor reports, never raises
        return False, f"{describe_url(url)}: {exc}"


def _check_prefect() -> tuple[bool, str]:
    try:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value() or "ephemeral server (started on demand)"
        with get_client(sync_client=True) as client:
            error = client.api_healthcheck()
        return error is None, url if error is None else f"{url}: {error}"
    except Exception as exc:  # noqa: BLE001
        return False, str(exc)


def _check_docker() -> tuple[bool, str]:
    from hyperfunc_core.executors.image import engine_status

    return engine_status()


def _check_sandbox() -> tuple[bool, str]:
    from hyperfunc_core.executors.sandbox import sandbox_status

    return sandbox_status()


def _check_executor_image() -> tuple[bool, str]:
    from hyperfunc_core.executors.image import image_status

    return image_status()


def _local_model() -> str:
    """The local model's file, size and last measured speed (``hyperfunc model check``), or how to get one."""
    from hyperfunc_core import local_model

    try:
        gguf = local_model.chosen_gguf()
    except ValueError as exc:
        return f"[yellow]missing[/] {exc}"
    speed = local_model.last_speed()
    measured = (
        f"{speed['tokens_per_s']} tokens/s on {speed['measured_at']}"
        if speed.get("gguf") == str(gguf)
        else "speed not measured yet: hyperfunc model check"
    )
    ready = "" if local_model.installed() else "; its server is not installed: scripts/setup.sh --local"
    return f"{gguf} ({gguf.stat().st_size / 1e6:.0f} MB), {measured}{ready}"


def _model_used() -> str:
    """Which model a run that names none uses (``model_choice``'s order)."""
    from hyperfunc_core import local_model
    from hyperfunc_core.model_choice import model_is_configured

    settings = get_settings()
    if model_is_configured():
        return f"{settings.model} (configured)" + (f" at {settings.llm_api_base}" if settings.llm_api_base else "")
    if local_model.available():
        kept = local_model.running()
        return "the local model, " + (
            f"served by `hyperfunc model serve` at {kept.api_base}" if kept else "started for each run"
        )
    return f"{settings.model} (the default; needs its key; scripts/setup.sh --local for a local model)"


@app.command()
def doctor() -> None:
    """Print versions, where data lives, and which services are reachable."""
    settings = get_settings()
    table = Table(title="hyperfunc doctor", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("python", platform.python_version())
    for dist in ("hyperfunc", "prefect", "torch", "litellm", "sqlmodel"):
        table.add_row(dist, _version(dist))
    table.add_row("HYPERFUNC_HOME", str(settings.resolved_home))
    table.add_row("PREFECT_HOME", os.environ.get("PREFECT_HOME", "(Prefect's default)"))
    table.add_row("model (no --model)", _model_used())
    ok_all = True
    optional = ("docker", "executor image", "sandbox")  # only their executors need them
    for name, check in (
        ("database", _check_database),
        ("prefect api", _check_prefect),
        ("docker", _check_docker),
        ("executor image", _check_executor_image),
        ("sandbox", _check_sandbox),
    ):
        started = time.perf_counter()
        ok, detail = check()
        mark = "[green]ok[/]" if ok else ("[yellow]missing[/]" if name in optional else "[red]unreachable[/]")
        table.add_row(name, f"{mark} {detail} ({time.perf_counter() - started:.1f}s)")
        ok_all &= ok or name in optional
    from hyperfunc_core.executors.base import strongest_mode

    table.add_row("agent executor", strongest_mode()[1])
    table.add_row("local model", _local_model())
    console.print(table)
    if not ok_all:
        raise typer.Exit(1)
