#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with the gguf package (llama.cpp's gguf-py) and
# numpy, for benchmarks/parity/gguf_reference.py and GgufPythonTest (FUSELM_GGUF_PYTHON):
#
#   PY=$(benchmarks/parity/gguf_venv.sh DIR)    # prints DIR/bin/python on stdout
#
# Installs gguf==0.19.0 numpy==2.3.5
# through benchmarks/venv.sh: from the local wheel index only; a DIR that already has those
# versions is reused as is; one line on stderr and exit 1 when the wheels are not there.
# $FUSELM_GGUF_INDEX overrides the index.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 DIR   (creates or reuses a venv with gguf==0.19.0 numpy==2.3.5 in DIR)" >&2
  exit 2
fi
export FUSELM_VENV_INDEX="${FUSELM_GGUF_INDEX:-${FUSELM_VENV_INDEX:-/opt/pypi/simple}}"
exec "$(dirname "$0")/../venv.sh" gguf_venv "$1" gguf==0.19.0 numpy==2.3.5
