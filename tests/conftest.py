"""Test session set-up: a private home for hyperfunc and Prefect, one Prefect harness.

The environment is set before anything imports Prefect, which reads its settings at import.
"""

from __future__ import annotations

import os
import tempfile

_session_home = tempfile.mkdtemp(prefix="hyperfunc-tests-")
os.environ["HYPERFUNC_HOME"] = _session_home
os.environ["PREFECT_HOME"] = os.path.join(_session_home, "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("HYPERFUNC_DATABASE_URL", None)
# A run with no model named finds no local model here (model_choice), so it never starts one by
# accident; tests/test_local_model.py serves the one HYPERFUNC_TEST_LOCAL_MODEL_DIR names.
for _name in ("HYPERFUNC_MODEL", "HYPERFUNC_LLM_API_BASE", "HYPERFUNC_LOCAL_MODEL", "HYPERFUNC_LOCAL_MODEL_DIR"):
    os.environ.pop(_name, None)

import pytest  # noqa: E402

from hyperfunc_core.settings import reload_settings  # noqa: E402

# The pytest plugin imported hyperfunc_core (and read its settings) before this file set the
# environment: read them again, so run outputs go to the session's home, not the project's.
reload_settings()

POSTGRES_URL = os.environ.get("HYPERFUNC_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server for the whole session; only tests that need Prefect use it."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def postgres_url_or_skip() -> str:
    """The PostgreSQL URL for storage tests. Under CI its absence is a failure, not a skip."""
    if POSTGRES_URL:
        return POSTGRES_URL
    if os.environ.get("CI"):
        pytest.fail("HYPERFUNC_TEST_POSTGRES_URL is not set: .ci/run must start PostgreSQL for the storage tests")
    pytest.skip("HYPERFUNC_TEST_POSTGRES_URL is not set; run scripts/test.sh to start PostgreSQL")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """A fresh, empty database on each backend."""
    from sqlmodel import SQLModel

    from hyperfunc_core.storage import get_engine

    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url = postgres_url_or_skip()
    engine = get_engine(url)
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
    return url
