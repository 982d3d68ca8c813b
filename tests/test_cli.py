"""The `hyperfunc` command line: help, doctor, and a project Prefect server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from hyperfunc_core.cli import app
from hyperfunc_core.settings import SERVER_FILE

HYPERFUNC = shutil.which("hyperfunc") or os.path.join(os.path.dirname(sys.executable), "hyperfunc")


def _env(home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["HYPERFUNC_HOME"] = str(home)
    return env


def test_help_lists_commands():
    out = subprocess.run([HYPERFUNC, "--help"], capture_output=True, text=True, check=True).stdout
    assert "doctor" in out and "server" in out


@pytest.mark.usefixtures("prefect_harness")
def test_doctor_reports_versions_home_and_services():
    result = CliRunner().invoke(app, ["doctor"], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "prefect" in out and "3.8.8" in out and "torch" in out
    assert os.environ["HYPERFUNC_HOME"] in out
    assert "database" in out and "prefect api" in out and "docker" in out and "executor image" in out
    assert out.count(" ok ") >= 2  # database and the harness's Prefect API


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_server_is_used_by_later_runs(tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        [HYPERFUNC, "server", "--port", str(port)],
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("hyperfunc server did not answer /api/health within 120 s")
        info = json.loads((tmp_path / SERVER_FILE).read_text())
        assert info["api_url"] == f"http://127.0.0.1:{port}/api"
        assert (tmp_path / "prefect").is_dir()  # Prefect's home is under ours
        doctor = subprocess.run(
            [HYPERFUNC, "doctor"], env=_env(tmp_path) | {"COLUMNS": "200"}, capture_output=True, text=True, timeout=120
        )
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert f"ok http://127.0.0.1:{port}/api" in doctor.stdout
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert not (tmp_path / SERVER_FILE).exists()


@pytest.mark.slow
def test_train_command_trains_an_example_and_lists_the_run(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, HYPERFUNC_HOME=str(tmp_path / "home"), COLUMNS="200")
    hyperfunc = os.path.join(os.path.dirname(sys.executable), "hyperfunc")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trained = subprocess.run(
        [
            hyperfunc,
            "train",
            os.path.join(root, "examples/es/xor.py:XORSystem"),
            "--local",
            "--steps",
            "30",
            "--run-name",
            "xor-cli",
            "--strategy",
            "snes",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "ES run xor-cli: 30 steps in 3 epochs" in trained.stdout
    again = subprocess.run(
        [
            hyperfunc,
            "train",
            os.path.join(root, "examples/es/xor.py:XORSystem"),
            "--local",
            "--steps",
            "30",
            "--run-name",
            "xor-cli",
            "--strategy",
            "snes",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "resumed at epoch 3" in again.stdout, again.stdout + again.stderr
    listed = subprocess.run([hyperfunc, "es-runs"], env=env, capture_output=True, text=True, timeout=120)
    assert "xor-cli" in listed.stdout and "finished" in listed.stdout
    bad = subprocess.run(
        [hyperfunc, "train", os.path.join(root, "examples/es/xor.py:NoSuchSystem"), "--local"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "no system named 'NoSuchSystem'" in bad.stdout + bad.stderr
