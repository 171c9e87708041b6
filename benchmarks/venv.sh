#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with pinned packages from the machine's local
# wheel index, for the parity scripts and the tests that run a Python reference:
#
#   PY=$(benchmarks/venv.sh NAME DIR PACKAGE==VERSION...)    # prints DIR/bin/python on stdout
#
# NAME only labels the messages (hf_venv, onnx_venv, gguf_venv, ...). A package may be given
# without a version (it must then only be installed). Installs from the local wheel index only
# (file:///opt/pypi/simple, or $FUSELM_VENV_INDEX; plus /opt/pypi-more/simple and /opt/wheels where
# they exist, which hold dependencies and the torch wheel), never from the network, so it cannot
# hang on one. A DIR whose python already has exactly those versions is reused as is. When the
# wheels are not there it prints one line on stderr saying so and exits 1. Needs python3 >= 3.10 on
# PATH (or $FUSELM_VENV_BASE_PYTHON).
#
# The per-purpose scripts (benchmarks/parity/{hf,onnx,ngram,gguf}_venv.sh,
# benchmarks/serve/openai_venv.sh) are one line each over this one: they name the pins.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 NAME DIR PACKAGE[==VERSION]...   (creates or reuses a venv in DIR)" >&2
  exit 2
fi
name="$1"
dir="$2"
shift 2
pins=("$@")
py="$dir/bin/python"
index="${FUSELM_VENV_INDEX:-/opt/pypi/simple}"
wanted="${pins[*]}"

# true when py has every pinned distribution at its version (and the unpinned ones at all)
ready() {
  "$py" - "${pins[@]}" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    pkg, _, want = spec.partition("==")
    have = version(pkg)
    if want and have != want:
        sys.exit(1)
PY
}

if [ -x "$py" ] && ready; then
  echo "$py"
  exit 0
fi

first="${pins[0]%%==*}"
if [ ! -d "$index/$first" ]; then
  echo "$name: no local wheel index at $index with $first ($wanted comes only from there)" >&2
  exit 1
fi
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -f "$dir/pyvenv.cfg" ]; then
  echo "$name: $dir exists and is not a virtual environment; give an empty or new directory" >&2
  exit 1
fi
base="${FUSELM_VENV_BASE_PYTHON:-python3}"
mkdir -p "$(dirname "$dir")"
if ! "$base" -m venv --clear "$dir" >/dev/null 2>&1; then
  echo "$name: '$base -m venv $dir' failed (is python3-venv installed?)" >&2
  exit 1
fi
sources=(--index-url "file://$index")
[ -d /opt/pypi-more/simple ] && sources+=(--extra-index-url file:///opt/pypi-more/simple)
[ -d /opt/wheels ] && sources+=(--find-links /opt/wheels)
log="$dir/pip-install.log"
if ! "$py" -m pip install --no-input --disable-pip-version-check "${sources[@]}" \
    "${pins[@]}" >"$log" 2>&1; then
  echo "$name: the local index lacks a wheel for $wanted or a dependency:" \
    "$(grep -m1 -E '^ERROR' "$log" || tail -n1 "$log")" >&2
  exit 1
fi
if ! ready; then
  echo "$name: installed, but $py does not have $wanted" >&2
  exit 1
fi
echo "$py"
