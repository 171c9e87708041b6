#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with the real Hugging Face transformers, for
# benchmarks/parity/hf_interop.py and the round-trip tests (FUSELM_HF_PYTHON):
#
#   PY=$(benchmarks/parity/hf_venv.sh DIR)    # prints DIR/bin/python on stdout
#
# Installs transformers==5.18.0 torch==2.13.0+cpu safetensors
# through benchmarks/venv.sh: from the local wheel index only; a DIR that already has those
# versions is reused as is; one line on stderr and exit 1 when the wheels are not there.
# $FUSELM_HF_INDEX overrides the index, $FUSELM_HF_BASE_PYTHON the base python.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 DIR   (creates or reuses a venv with transformers in DIR)" >&2
  exit 2
fi
export FUSELM_VENV_INDEX="${FUSELM_HF_INDEX:-${FUSELM_VENV_INDEX:-/opt/pypi/simple}}"
export FUSELM_VENV_BASE_PYTHON="${FUSELM_HF_BASE_PYTHON:-${FUSELM_VENV_BASE_PYTHON:-python3}}"
exec "$(dirname "$0")/../venv.sh" hf_venv "$1" transformers==5.18.0 torch==2.13.0+cpu safetensors
