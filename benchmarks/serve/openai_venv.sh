#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with the official openai client, for
# benchmarks/serve/openai_client_test.py:
#
#   PY=$(benchmarks/serve/openai_venv.sh DIR)    # prints DIR/bin/python on stdout
#
# Installs openai==3.22.1 from the machine's local wheel index only (file:///opt/pypi/simple,
# plus /opt/pypi-more/simple and /opt/wheels where they exist), never from the network, so it
# cannot hang on one. A DIR whose python already imports that version is reused as is. When the
# wheels are not there it prints one line on stderr saying so and exits 1.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR   (creates or reuses a venv with openai 3.22.1 in DIR)" >&2
  exit 2
fi
dir="$1"
py="$dir/bin/python"
want="3.22.1"
index="${FUSELM_OPENAI_INDEX:-/opt/pypi/simple}"

ready() {
  "$py" -c "import sys, openai; sys.exit(0 if openai.__version__ == '$want' else 1)" \
    >/dev/null 2>&1
}

if [ -x "$py" ] && ready; then
  echo "$py"
  exit 0
fi
if [ ! -d "$index/openai" ]; then
  echo "openai_venv: no local wheel index at $index (openai $want is installed only from there)" >&2
  exit 1
fi
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -f "$dir/pyvenv.cfg" ]; then
  echo "openai_venv: $dir exists and is not a virtual environment; give an empty or new one" >&2
  exit 1
fi
mkdir -p "$(dirname "$dir")"
if ! python3 -m venv --clear "$dir" >/dev/null 2>&1; then
  echo "openai_venv: 'python3 -m venv $dir' failed (is python3-venv installed?)" >&2
  exit 1
fi
sources=(--index-url "file://$index")
[ -d /opt/pypi-more/simple ] && sources+=(--extra-index-url file:///opt/pypi-more/simple)
[ -d /opt/wheels ] && sources+=(--find-links /opt/wheels)
log="$dir/pip-install.log"
if ! "$py" -m pip install --no-input --disable-pip-version-check "${sources[@]}" \
    "openai==$want" >"$log" 2>&1; then
  echo "openai_venv: the local index lacks a wheel for openai $want or a dependency:" \
    "$(grep -m1 -E '^ERROR' "$log" || tail -n1 "$log")" >&2
  exit 1
fi
if ! ready; then
  echo "openai_venv: installed, but $py does not import openai $want" >&2
  exit 1
fi
echo "$py"
