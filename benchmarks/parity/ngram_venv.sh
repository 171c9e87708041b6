#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with NLTK, for benchmarks/parity/ngram_reference.py:
#
#   PY=$(benchmarks/parity/ngram_venv.sh DIR)    # prints DIR/bin/python on stdout
#
# Installs nltk==3.10.3 (and its dependencies click, joblib, regex, tqdm) from the machine's local
# wheel index only (file:///opt/pypi/simple, overridable with FUSELM_NGRAM_INDEX), never from the
# network. A DIR whose python already imports that version is reused as is. When the wheels are not
# there it prints one line on stderr saying so and exits 1. Needs python3 >= 3.9 on PATH.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR   (creates or reuses a venv with nltk 3.10.3 in DIR)" >&2
  exit 2
fi
dir="$1"
py="$dir/bin/python"
want="3.10.3"
index="${FUSELM_NGRAM_INDEX:-/opt/pypi/simple}"

ready() {
  "$py" -c "import sys, nltk; sys.exit(0 if nltk.__version__ == '$want' else 1)" >/dev/null 2>&1
}

if [ -x "$py" ] && ready; then
  echo "$py"
  exit 0
fi
if [ ! -d "$index/nltk" ]; then
  echo "ngram_venv: no nltk in the local wheel index at $index" >&2
  exit 1
fi
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -f "$dir/pyvenv.cfg" ]; then
  echo "ngram_venv: $dir exists and is not a virtual environment; give an empty or new directory" >&2
  exit 1
fi
mkdir -p "$(dirname "$dir")"
if ! python3 -m venv --clear "$dir" >/dev/null 2>&1; then
  echo "ngram_venv: 'python3 -m venv $dir' failed (is python3-venv installed?)" >&2
  exit 1
fi
log="$dir/pip-install.log"
if ! "$py" -m pip install --no-input --disable-pip-version-check --index-url "file://$index" \
    "nltk==$want" >"$log" 2>&1; then
  echo "ngram_venv: the local index lacks nltk $want or a dependency: $(grep -m1 -E '^ERROR' "$log" || tail -n1 "$log")" >&2
  exit 1
fi
if ! ready; then
  echo "ngram_venv: installed, but $py does not import nltk $want" >&2
  exit 1
fi
echo "$py"
