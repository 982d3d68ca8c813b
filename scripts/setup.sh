#!/usr/bin/env bash
# Create .venv and install hyperfunc into it. `--dev` adds the test tools, `--bench` the
# baselines the benchmarks compare against (Optuna); both may be given.
# Torch is pinned to a CPU build unless an NVIDIA GPU is visible, so pip never pulls CUDA
# packages on a CPU machine. Where no CPU wheel is on the configured indexes, set
#   PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
wanted=()
for arg in "$@"; do
  case "$arg" in
    --dev) wanted+=(dev) ;;
    --bench) wanted+=(bench) ;;
    *) echo "setup.sh: unknown option $arg (expected --dev and/or --bench)" >&2; exit 2 ;;
  esac
done
extras=""
(( ${#wanted[@]} )) && extras="[$(IFS=,; echo "${wanted[*]}")]"

[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
torch_spec="torch==2.13.0+cpu"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  torch_spec="torch==2.13.0"
fi
cat > .venv/constraints.txt <<CONSTRAINTS
$torch_spec
prefect==3.8.8
fastapi<0.151
CONSTRAINTS
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c .venv/constraints.txt "$torch_spec"
.venv/bin/python -m pip install -q -c .venv/constraints.txt -e ".${extras}"
.venv/bin/python -c "import torch, hyperfunc_core; print('hyperfunc', hyperfunc_core.__version__, 'torch', torch.__version__)"
