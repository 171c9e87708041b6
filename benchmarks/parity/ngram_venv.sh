#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with NLTK, for
# benchmarks/parity/ngram_reference.py:
#
#   PY=$(benchmarks/parity/ngram_venv.sh DIR)    # prints DIR/bin/python on stdout
#
# Installs nltk==3.10.3
# through benchmarks/venv.sh: from the local wheel index only; a DIR that already has those
# versions is reused as is; one line on stderr and exit 1 when the wheels are not there.
# $FUSELM_NGRAM_INDEX overrides the index.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 DIR   (creates or reuses a venv with nltk==3.10.3 in DIR)" >&2
  exit 2
fi
export FUSELM_VENV_INDEX="${FUSELM_NGRAM_INDEX:-${FUSELM_VENV_INDEX:-/opt/pypi/simple}}"
exec "$(dirname "$0")/../venv.sh" ngram_venv "$1" nltk==3.10.3
