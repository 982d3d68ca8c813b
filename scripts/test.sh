#!/usr/bin/env bash
# Set up the project with its test tools, start the services the tests use, run pytest.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
if [[ -z "${HYPERFUNC_TEST_POSTGRES_URL:-}" ]]; then
  if url=$(bash scripts/services/postgres.sh); then
    export HYPERFUNC_TEST_POSTGRES_URL="$url"
  else
    echo "test.sh: no PostgreSQL server; the PostgreSQL storage tests will be skipped" >&2
  fi
fi
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
