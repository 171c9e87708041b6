#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with the real Hugging Face transformers, for
# benchmarks/parity/hf_interop.py and the round-trip tests (FUSELM_HF_PYTHON):
#
#   PY=$(benchmarks/parity/hf_venv.sh DIR)    # prints DIR/bin/python on stdout
#
# Installs transformers==5.18.0, torch==2.13.0+cpu and safetensors from the machine's local wheel
# index only (file:///opt/pypi/simple, plus /opt/pypi-more/simple and /opt/wheels where they exist,
# which hold the dependencies and the torch wheel), never from the network, so it cannot hang on
# one. A DIR whose python already imports those versions is reused as is. When the wheels are not
# there it prints one line on stderr saying so and exits 1. Needs python3 >= 3.10 on PATH
# (or $FUSELM_HF_BASE_PYTHON).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR   (creates or reuses a venv with transformers 5.18.0 in DIR)" >&2
  exit 2
fi
dir="$1"
py="$dir/bin/python"
want_tf="5.18.0"
want_torch="2.13.0+cpu"
index="${FUSELM_HF_INDEX:-/opt/pypi/simple}"  # the local index (overridable for tests of this script)

# true when py imports the wanted versions (and safetensors)
ready() {
  "$py" - "$want_tf" "$want_torch" >/dev/null 2>&1 <<'PY'
import sys
import safetensors, torch, transformers
sys.exit(0 if (transformers.__version__, torch.__version__) == (sys.argv[1], sys.argv[2]) else 1)
PY
}

if [ -x "$py" ] && ready; then
  echo "$py"
  exit 0
fi

if [ ! -d "$index/transformers" ]; then
  echo "hf_venv: no local wheel index at $index (transformers $want_tf is installed only from there)" >&2
  exit 1
fi
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -f "$dir/pyvenv.cfg" ]; then
  echo "hf_venv: $dir exists and is not a virtual environment; give an empty or new directory" >&2
  exit 1
fi
base="${FUSELM_HF_BASE_PYTHON:-python3}"
mkdir -p "$(dirname "$dir")"
if ! "$base" -m venv --clear "$dir" >/dev/null 2>&1; then
  echo "hf_venv: '$base -m venv $dir' failed (is python3-venv installed?)" >&2
  exit 1
fi
sources=(--index-url "file://$index")
[ -d /opt/pypi-more/simple ] && sources+=(--extra-index-url file:///opt/pypi-more/simple)
[ -d /opt/wheels ] && sources+=(--find-links /opt/wheels)
log="$dir/pip-install.log"
if ! "$py" -m pip install --no-input --disable-pip-version-check "${sources[@]}" \
    "transformers==$want_tf" "torch==$want_torch" safetensors >"$log" 2>&1; then
  echo "hf_venv: the local index lacks a wheel for transformers $want_tf / torch $want_torch /" \
    "safetensors or a dependency: $(grep -m1 -E '^ERROR' "$log" || tail -n1 "$log")" >&2
  exit 1
fi
if ! ready; then
  echo "hf_venv: installed, but $py does not import transformers $want_tf and torch $want_torch" >&2
  exit 1
fi
echo "$py"
