#!/usr/bin/env bash
# Set up the project with its test tools, start the services the tests use, lint, run pytest.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev --local
# The real local model's tests (tests/test_local_model.py) serve the model setup.sh --local installed;
# every other test runs where no local model is found.
HYPERFUNC_TEST_LOCAL_MODEL_DIR=$(.venv/bin/python -c "from hyperfunc_core import local_model; print(local_model.home())")
export HYPERFUNC_TEST_LOCAL_MODEL_DIR HYPERFUNC_TEST_LOCAL_MODEL=required
if [[ -z "${HYPERFUNC_TEST_POSTGRES_URL:-}" ]]; then
  if url=$(bash scripts/services/postgres.sh); then
    export HYPERFUNC_TEST_POSTGRES_URL="$url"
  else
    echo "test.sh: no PostgreSQL server; the PostgreSQL storage tests will be skipped" >&2
  fi
fi
if [[ -z "${HYPERFUNC_TEST_DOCKER:-}" ]]; then
  # The Docker executor's tests need an engine and the locally built base image.
  if why=$(bash scripts/services/docker.sh 2>&1) && why=$(.venv/bin/hyperfunc executor build-image 2>&1); then
    export HYPERFUNC_TEST_DOCKER=required
  else
    export HYPERFUNC_TEST_DOCKER="unavailable: $(echo "$why" | tail -3 | tr '\n' ' ')"
    echo "test.sh: no Docker engine here; the Docker executor tests will be skipped ($HYPERFUNC_TEST_DOCKER)" >&2
  fi
fi
if [[ -z "${HYPERFUNC_TEST_SANDBOX:-}" ]]; then
  # The sandbox executor's tests (and the evolution loop tests, which run in it) need bubblewrap.
  if why=$(bash scripts/services/sandbox.sh 2>&1); then
    export HYPERFUNC_TEST_SANDBOX=required
  else
    export HYPERFUNC_TEST_SANDBOX="unavailable: $(echo "$why" | tail -2 | tr '\n' ' ')"
    echo "test.sh: the sandbox cannot start here; its tests will be skipped ($HYPERFUNC_TEST_SANDBOX)" >&2
  fi
fi
# Lint (pyflakes, pycodestyle, import order) and the formatter's check, before any test runs.
.venv/bin/ruff check --quiet . && .venv/bin/ruff format --check --quiet . || {
  echo "test.sh: ruff found problems; '.venv/bin/ruff check --fix . && .venv/bin/ruff format .' mends most" >&2; exit 1; }
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
