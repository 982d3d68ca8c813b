"""The Docker executor's base image, built on this machine with no image registry.

``build_base_image`` bootstraps a minimal Debian with ``debootstrap`` (from Debian's package
mirror, which is reachable where a registry is not), adds what a TaskAgent's code and the
executor need (python3, git, patch, procps), creates the non-root ``agent`` user, and
imports the tree with ``docker import``. The image carries a label with its recipe, so a
second build with the same recipe is skipped unless forced.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hyperfunc_core.validation import InvalidInput

DEFAULT_IMAGE = "hyperfunc-executor:latest"
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = os.environ.get("HYPERFUNC_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = ("python3", "git", "patch", "procps", "ca-certificates")
AGENT_UID = 1000
AGENT_HOME = "/home/agent"
RECIPE_LABEL = "hyperfunc.recipe"
_PRUNE = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt/archives",
    "var/lib/apt/lists",
)


def docker_client(timeout: int = 60) -> Any:
    """A Docker SDK client for the engine this environment points at (``DOCKER_HOST`` or the local socket)."""
    import docker

    return docker.from_env(timeout=timeout)


def recipe(suite: str = DEFAULT_SUITE, packages: Sequence[str] = ()) -> dict:
    return {"suite": suite, "packages": sorted(set(BASE_PACKAGES) | set(packages)), "uid": AGENT_UID, "version": 1}


def recipe_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def engine_status() -> tuple[bool, str]:
    """Whether a Docker engine answers, and its version or why not."""
    try:
        version = docker_client(timeout=5).version().get("Version", "?")
        return True, f"engine {version}"
    except Exception as exc:  # noqa: BLE001 - a status, never an error
        return False, f"no engine reachable ({type(exc).__name__}: {str(exc)[:120]})"


def image_status(name: str = DEFAULT_IMAGE) -> tuple[bool, str]:
    """Whether the base image is there, with its size and recipe, or why not."""
    try:
        image = docker_client(timeout=5).images.get(name)
    except Exception as exc:  # noqa: BLE001
        missing = type(exc).__name__ == "ImageNotFound"
        return False, (
            f"{name} not built (hyperfunc executor build-image)"
            if missing
            else f"{name}: {type(exc).__name__}: {str(exc)[:120]}"
        )
    size = image.attrs.get("Size", 0) / 1e6
    return True, f"{name} ({size:.0f} MB, recipe {image.labels.get(RECIPE_LABEL, '?')})"


def build_base_image(
    name: str = DEFAULT_IMAGE,
    *,
    suite: str = DEFAULT_SUITE,
    mirror: str = DEFAULT_MIRROR,
    packages: Sequence[str] = (),
    force: bool = False,
    log: Callable[[str], None] = print,
) -> str:
    """Build (or keep, when its recipe is unchanged) the executor's base image; returns its id."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise InvalidInput(f"name: expected an image name such as {DEFAULT_IMAGE}, got {name!r}")
    spec = recipe(suite, packages)
    digest = recipe_hash(spec)
    engine_ok, engine = engine_status()
    if not engine_ok:
        raise RuntimeError(f"build-image: {engine}; start one first (sudo bash scripts/services/docker.sh)")
    client = docker_client()
    if not force:
        try:
            image = client.images.get(name)
            if image.labels.get(RECIPE_LABEL) == digest:
                log(f"{name} is up to date (recipe {digest}); --force rebuilds it")
                return image.id
        except Exception:  # noqa: BLE001 - not there yet: build it
            pass
    if os.geteuid() != 0:
        raise PermissionError(
            "build-image: debootstrap needs root; run it as root (sudo hyperfunc executor build-image)"
        )
    if shutil.which("debootstrap") is None:
        raise FileNotFoundError("build-image: debootstrap is not installed (apt-get install -y debootstrap)")
    with tempfile.TemporaryDirectory(prefix="hyperfunc-rootfs-") as scratch:
        root = Path(scratch) / "rootfs"
        log(f"debootstrap {suite} with {', '.join(spec['packages'])} from {mirror} ...")
        _step(
            ["debootstrap", "--variant=minbase", f"--include={','.join(spec['packages'])}", suite, str(root), mirror],
            "debootstrap",
        )
        _step(
            ["chroot", str(root), "useradd", "--create-home", "--uid", str(AGENT_UID), "--shell", "/bin/bash", "agent"],
            "useradd",
        )
        (root / AGENT_HOME.lstrip("/")).chmod(0o1777)  # also usable by a non-root host user's uid
        for part in _PRUNE:
            shutil.rmtree(root / part, ignore_errors=True)
        log(f"importing {name} ...")
        changes = [
            f"ENV HOME={AGENT_HOME}",
            "ENV LANG=C.UTF-8",
            f"WORKDIR {AGENT_HOME}",
            f"LABEL {RECIPE_LABEL}={digest}",
            'CMD ["sleep", "infinity"]',
        ]
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        args = ["docker", "import", *[a for c in changes for a in ("--change", c)], "-", name]
        done = subprocess.run(args, stdin=tar.stdout, capture_output=True, text=True)
        tar.stdout.close()
        tar.wait()
        if done.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"docker import failed: {done.stderr.strip()[-500:]}")
    image = client.images.get(name)
    log(f"built {name} ({image.attrs.get('Size', 0) / 1e6:.0f} MB, recipe {digest})")
    return image.id


def _step(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{what} failed (exit {done.returncode}):\n{tail}")
