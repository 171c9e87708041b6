#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with onnxruntime, tokenizers and numpy, for
# benchmarks/parity/onnx_reference.py (the ONNX importer's test fixture) and
# benchmarks/bert/onnx_vs_fuselm.py (the speed comparison):
#
#   PY=$(benchmarks/parity/onnx_venv.sh DIR)    # prints DIR/bin/python on stdout
#
# Installs pinned versions from the machine's local wheel index only (file:///opt/pypi/simple,
# plus /opt/pypi-more/simple and /opt/wheels where they exist), never from the network. A DIR
# whose python already imports those versions is reused as is. When the wheels are not there it
# prints one line on stderr saying so and exits 1. Needs python3 >= 3.10 on PATH (or
# $FUSELM_ONNX_BASE_PYTHON).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR   (creates or reuses a venv with onnxruntime in DIR)" >&2
  exit 2
fi
dir="$1"
py="$dir/bin/python"
want_ort="1.30.0"
want_tok="0.23.2"
want_np="2.3.5"
index="${FUSELM_ONNX_INDEX:-/opt/pypi/simple}"

ready() {
  "$py" - "$want_ort" "$want_tok" "$want_np" >/dev/null 2>&1 <<'PY'
import sys
import numpy, onnxruntime, tokenizers
sys.exit(0 if (onnxruntime.__version__, tokenizers.__version__, numpy.__version__)
         == tuple(sys.argv[1:4]) else 1)
PY
}

if [ -x "$py" ] && ready; then
  echo "$py"
  exit 0
fi
if [ ! -d "$index/onnxruntime" ]; then
  echo "onnx_venv: no local wheel index at $index (onnxruntime $want_ort is installed only from there)" >&2
  exit 1
fi
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -f "$dir/pyvenv.cfg" ]; then
  echo "onnx_venv: $dir exists and is not a virtual environment; give an empty or new directory" >&2
  exit 1
fi
base="${FUSELM_ONNX_BASE_PYTHON:-python3}"
mkdir -p "$(dirname "$dir")"
if ! "$base" -m venv --clear "$dir" >/dev/null 2>&1; then
  echo "onnx_venv: '$base -m venv $dir' failed (is python3-venv installed?)" >&2
  exit 1
fi
sources=(--index-url "file://$index")
[ -d /opt/pypi-more/simple ] && sources+=(--extra-index-url file:///opt/pypi-more/simple)
[ -d /opt/wheels ] && sources+=(--find-links /opt/wheels)
log="$dir/pip-install.log"
if ! "$py" -m pip install --no-input --disable-pip-version-check "${sources[@]}" \
    "onnxruntime==$want_ort" "tokenizers==$want_tok" "numpy==$want_np" >"$log" 2>&1; then
  echo "onnx_venv: the local index lacks a wheel for onnxruntime $want_ort / tokenizers" \
    "$want_tok / numpy $want_np or a dependency: $(grep -m1 -E '^ERROR' "$log" || tail -n1 "$log")" >&2
  exit 1
fi
if ! ready; then
  echo "onnx_venv: installed, but $py does not import onnxruntime $want_ort, tokenizers $want_tok, numpy $want_np" >&2
  exit 1
fi
echo "$py"
