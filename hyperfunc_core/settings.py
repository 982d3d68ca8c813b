"""Where hyperfunc keeps its data and how it reaches Prefect and LLMs.

Every value comes from the environment (prefix ``HYPERFUNC_``) so that a worker on
another machine is configured the same way as a laptop. Prefect is pointed at a home
folder under ours before it is imported anywhere, unless the user configured Prefect
themselves.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVER_FILE = "prefect-server.json"


class Settings(BaseSettings):
    """Project-wide settings, read from ``HYPERFUNC_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="HYPERFUNC_", extra="ignore")

    home: Path = Field(
        default=Path("./.hyperfunc"), description="Folder for the database, Prefect's home and run outputs."
    )
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite under `home` when unset.")
    model: str = Field(default="openai/gpt-4o-mini", description="Default litellm model string.")
    llm_api_base: str | None = Field(default=None, description="Base URL for the LLM provider (e.g. a local server).")
    llm_api_key: str | None = Field(
        default=None, description="API key for the LLM provider, when litellm's own variables are not set."
    )
    llm_omit_params: str | None = Field(
        default=None,
        description="Comma-separated request parameters left out of every LLM request, for a server that "
        "mishandles them (`hyperfunc model serve` prints the ones its server needs).",
    )
    llm_tool_protocol: str = Field(
        default="auto",
        description="How tools reach the model when the caller leaves it on auto: native function calling, "
        "text (tools in the prompt), or auto (native until the server refuses); `hyperfunc model serve` "
        "prints the one its server needs.",
    )
    otel: bool = Field(
        default=False,
        description="OpenTelemetry spans and metrics around calls, trials and ES steps (to the global providers).",
    )
    task_log_level: str = Field(
        default="WARNING",
        description="Lowest level of Prefect's log records kept for per-trial and per-candidate tasks; INFO keeps a 'Finished' line each.",
    )

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'hyperfunc.db'}"

    @property
    def prefect_home(self) -> Path:
        return self.resolved_home / "prefect"

    @property
    def outputs_dir(self) -> Path:
        return self.resolved_home / "runs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; call ``reload_settings()`` after changing the environment."""
    return Settings()


def reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


def running_server(settings: Settings | None = None) -> dict | None:
    """The Prefect server that ``hyperfunc server`` started for this home, if it still runs."""
    settings = settings or get_settings()
    path = settings.resolved_home / SERVER_FILE
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def configure_prefect(settings: Settings | None = None) -> dict[str, str]:
    """Point Prefect at this project's home unless the user configured Prefect already.

    Must run before ``prefect`` is imported: Prefect reads its settings at import time.
    Returns the variables it set.
    """
    settings = settings or get_settings()
    applied: dict[str, str] = {}

    def default(name: str, value: str) -> None:
        if name not in os.environ:
            os.environ[name] = value
            applied[name] = value

    if not any(k in os.environ for k in ("PREFECT_HOME", "PREFECT_API_URL", "PREFECT_PROFILE")):
        settings.prefect_home.mkdir(parents=True, exist_ok=True)  # Prefect does not create a nested home
        default("PREFECT_HOME", str(settings.prefect_home))
    # A server `hyperfunc server` runs for this home is used even where PREFECT_HOME is exported: an
    # ephemeral API started beside it on the same prefect.db answers 503s. Only an API or a profile
    # the user chose wins.
    if not any(k in os.environ for k in ("PREFECT_API_URL", "PREFECT_PROFILE")):
        server = running_server(settings)
        if server:
            default("PREFECT_API_URL", server["api_url"])
    # A busy API (503, 429, 502) is waited out: Prefect's client retries with exponential back-off,
    # 8 times (about 4 minutes) rather than its default 5 (about 1), so a run does not die of bookkeeping.
    default("PREFECT_CLIENT_MAX_RETRIES", "8")
    default("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # hyperfunc's own warnings (a blind early-stopping policy, an unreadable checkpoint) reach the run's
    # log in the UI and the console like Prefect's; outside a run they only print.
    default("PREFECT_LOGGING_EXTRA_LOGGERS", "hyperfunc")
    default("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    default("DO_NOT_TRACK", "1")  # the client's side of it: no usage events, and no first-run notice about them
    # The ephemeral API takes 15-20 s to start on a small machine; Prefect's 20 s default is too tight.
    default("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    default("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the price list from the internet
    return applied
