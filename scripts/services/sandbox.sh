#!/usr/bin/env bash
# Make sure the sandbox executor can start: installs Debian's bubblewrap when it is missing (as root).
# Exits 1, saying why, where it cannot.
set -euo pipefail
if ! command -v bwrap >/dev/null 2>&1; then
  [[ $(id -u) == 0 ]] || { echo "sandbox.sh: bubblewrap is not installed and this is not root (apt-get install bubblewrap)" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq bubblewrap >&2
fi
exec .venv/bin/python -c "
import sys
from hyperfunc_core.executors.sandbox import sandbox_status
ok, why = sandbox_status()
print(why, file=sys.stderr)
sys.exit(0 if ok else 1)"
