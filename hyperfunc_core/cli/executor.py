"""``hyperfunc executor build-image | status | cleanup``: the Docker executor's image and containers."""

from __future__ import annotations

from typing import Optional

import typer

from hyperfunc_core.cli import app
from hyperfunc_core.cli.loading import console

executor_app = typer.Typer(help="The Docker executor: its base image and its containers.", no_args_is_help=True)
app.add_typer(executor_app, name="executor")


@executor_app.command("build-image")
def build_image(
    name: str = typer.Option(None, help="Image name (default hyperfunc-executor:latest)."),
    suite: str = typer.Option(None, help="Debian suite to bootstrap (default bookworm)."),
    mirror: str = typer.Option(None, help="Debian mirror (default $HYPERFUNC_DEBIAN_MIRROR or deb.debian.org)."),
    package: Optional[list[str]] = typer.Option(None, "--package", help="An extra Debian package (repeatable)."),
    force: bool = typer.Option(False, help="Rebuild even when the image's recipe is unchanged."),
) -> None:
    """Build the base image locally (debootstrap + docker import; no image registry needed). Needs root."""
    from hyperfunc_core.executors import image

    try:
        image.build_base_image(
            name or image.DEFAULT_IMAGE,
            suite=suite or image.DEFAULT_SUITE,
            mirror=mirror or image.DEFAULT_MIRROR,
            packages=package or (),
            force=force,
            log=console().print,
        )
    except (PermissionError, FileNotFoundError, RuntimeError, ValueError) as exc:
        console().print(f"[red]{exc}[/]")
        raise typer.Exit(1)


@executor_app.command("status")
def status(name: str = typer.Option(None, help="Image name (default hyperfunc-executor:latest).")) -> None:
    """Whether the engine answers, whether the base image is built, and which executor containers exist."""
    from hyperfunc_core.executors import image

    engine_ok, engine = image.engine_status()
    console().print(f"engine: {engine}")
    if not engine_ok:
        raise typer.Exit(1)
    image_ok, detail = image.image_status(name or image.DEFAULT_IMAGE)
    console().print(f"image: {detail}")
    from hyperfunc_core.executors.docker import executor_containers

    for container in executor_containers(all_hosts=True):
        console().print(
            f"container: {container.name} ({container.status}, pid {container.labels.get('hyperfunc.owner_pid')})"
        )
    if not image_ok:
        raise typer.Exit(1)


@executor_app.command("cleanup")
def cleanup(all_: bool = typer.Option(False, "--all", help="Also containers whose owning process still runs.")) -> None:
    """Remove executor containers left behind by processes that were killed (or all of them, with --all)."""
    from hyperfunc_core.executors.docker import _remove, executor_containers, reap_orphans

    removed = reap_orphans()
    if all_:
        for container in executor_containers():
            _remove(container)
            removed.append(container.name)
    console().print(f"removed {len(removed)} container(s){': ' + ', '.join(removed) if removed else ''}")
