#!/usr/bin/env bash
# Make sure a PostgreSQL server runs on 127.0.0.1:5432 with a `hyperfunc` role and test database.
# Installs Debian's package when missing (needs root). Prints the SQLAlchemy URL on success.
set -euo pipefail
URL="postgresql+psycopg://hyperfunc:hyperfunc@127.0.0.1:5432/hyperfunc_test"
as_postgres() { if [[ $(id -u) == 0 ]]; then su postgres -s /bin/sh -c "$*"; else sudo -u postgres sh -c "$*"; fi; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  [[ $(id -u) == 0 ]] || { echo "postgres.sh: PostgreSQL is not installed and this is not root" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h 2>/dev/null | grep -q "^$version main"; then
  pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
  pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 30); do
  as_postgres "pg_isready -q -h 127.0.0.1 -p 5432" && break
  sleep 1
done
as_postgres "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='hyperfunc'\"" | grep -q 1 ||
  as_postgres "psql -qc \"CREATE ROLE hyperfunc LOGIN SUPERUSER PASSWORD 'hyperfunc'\"" >&2
as_postgres "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='hyperfunc_test'\"" | grep -q 1 ||
  as_postgres "createdb -O hyperfunc hyperfunc_test" >&2
echo "$URL"
