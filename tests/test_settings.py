"""Settings and how Prefect is configured from them."""

from __future__ import annotations

import json
import os

import pytest

from hyperfunc_core.settings import SERVER_FILE, Settings, configure_prefect, running_server

PREFECT_VARS = ("PREFECT_HOME", "PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_SERVER_ANALYTICS_ENABLED")


def _clear(monkeypatch):
    for name in PREFECT_VARS:
        monkeypatch.delenv(name, raising=False)


def test_prefect_home_goes_under_ours_with_analytics_off(tmp_path, monkeypatch):
    _clear(monkeypatch)
    settings = Settings(home=tmp_path)
    applied = configure_prefect(settings)
    assert os.environ["PREFECT_HOME"] == str(tmp_path.resolve() / "prefect")
    assert (tmp_path / "prefect").is_dir()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert "PREFECT_API_URL" not in applied


def test_user_prefect_configuration_wins(tmp_path, monkeypatch):
    _clear(monkeypatch)
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example:4200/api")
    applied = configure_prefect(Settings(home=tmp_path))
    assert "PREFECT_HOME" not in applied and "PREFECT_API_URL" not in applied
    assert os.environ["PREFECT_API_URL"] == "http://prefect.example:4200/api"


def test_running_project_server_is_used(tmp_path, monkeypatch):
    _clear(monkeypatch)
    settings = Settings(home=tmp_path)
    (tmp_path / SERVER_FILE).write_text(json.dumps({"pid": os.getpid(), "api_url": "http://127.0.0.1:4999/api"}))
    assert running_server(settings)["api_url"] == "http://127.0.0.1:4999/api"
    configure_prefect(settings)
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:4999/api"
    _clear(monkeypatch)  # an exported PREFECT_HOME does not hide the project's running server
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "elsewhere"))
    configure_prefect(settings)
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:4999/api" and os.environ["PREFECT_HOME"].endswith(
        "elsewhere"
    )


def test_stale_server_file_is_ignored(tmp_path):
    (tmp_path / SERVER_FILE).write_text(json.dumps({"pid": 2**22 + 12345, "api_url": "http://x/api"}))
    assert running_server(Settings(home=tmp_path)) is None


def test_env_vars(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPERFUNC_HOME", str(tmp_path))
    monkeypatch.setenv("HYPERFUNC_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("HYPERFUNC_MODEL", "ollama/llama3.2")
    s = Settings()
    assert s.resolved_home == tmp_path.resolve()
    assert s.resolved_database_url == "postgresql://u@h/db"
    assert s.model == "ollama/llama3.2"


@pytest.mark.slow
def test_a_run_that_finds_no_server_says_so_at_once_and_when_the_temporary_api_is_ready(tmp_path):
    """No PREFECT_API_URL and no ``hyperfunc server``: the run says so before the 15-30 s wait, names
    the command that avoids it, and says when the temporary API answered."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["HYPERFUNC_HOME"] = str(tmp_path / "home")
    script = "from hyperfunc_core import Float, tune\nprint(tune(lambda c, x: x, {'x': Float(0, 1)}, max_trials=2)['counts'])\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "{'complete': 2}" in done.stdout
    first = done.stderr.index("No Prefect server is running for this home")
    assert (
        "hyperfunc server" in done.stderr[first:] and "Temporary Prefect API ready at http://127.0.0.1:" in done.stderr
    )
    assert first < done.stderr.index("Temporary Prefect API ready")
