#!/usr/bin/env bash
# Make sure a Docker engine answers, for the Docker executor. Installs Debian's docker.io (and
# debootstrap, which builds the executor's base image) when missing, and starts dockerd in the
# background when no engine runs; both need root. Exits 1, saying why, where no engine can run.
set -euo pipefail
LOG=${HYPERFUNC_DOCKERD_LOG:-/var/log/hyperfunc-dockerd.log}

if docker info >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 || [[ $(id -u) != 0 ]] ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  exit 0
fi
[[ $(id -u) == 0 ]] || { echo "docker.sh: no Docker engine answers and this is not root (cannot start dockerd)" >&2; exit 1; }
if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq docker.io debootstrap >&2
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
  nohup dockerd >"$LOG" 2>&1 &
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "docker.sh: dockerd did not answer within 60 s; its log ($LOG) ends with:" >&2
tail -5 "$LOG" >&2 || true
exit 1
