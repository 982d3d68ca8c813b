"""Settings and how Prefect is configured from them."""

from __future__ import annotations

import json
import os

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
