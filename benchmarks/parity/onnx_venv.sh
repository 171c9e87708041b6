#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with onnxruntime, tokenizers and numpy, for
# benchmarks/parity/onnx_reference.py (the ONNX importer's test fixture) and
# benchmarks/bert/onnx_vs_fuselm.py (the speed comparison):
#
#   PY=$(benchmarks/parity/onnx_venv.sh DIR)    # prints DIR/bin/python on stdout
#
# Installs onnxruntime==1.30.0 tokenizers==0.23.2 numpy==2.3.5
# through benchmarks/venv.sh: from the local wheel index only; a DIR that already has those
# versions is reused as is; one line on stderr and exit 1 when the wheels are not there.
# $FUSELM_ONNX_INDEX overrides the index, $FUSELM_ONNX_BASE_PYTHON the base python.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 DIR   (creates or reuses a venv with onnxruntime in DIR)" >&2
  exit 2
fi
export FUSELM_VENV_INDEX="${FUSELM_ONNX_INDEX:-${FUSELM_VENV_INDEX:-/opt/pypi/simple}}"
export FUSELM_VENV_BASE_PYTHON="${FUSELM_ONNX_BASE_PYTHON:-${FUSELM_VENV_BASE_PYTHON:-python3}}"
exec "$(dirname "$0")/../venv.sh" onnx_venv "$1" onnxruntime==1.30.0 tokenizers==0.23.2 numpy==2.3.5
