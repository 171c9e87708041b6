#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with the official openai client, for
# benchmarks/serve/openai_client_test.py:
#
#   PY=$(benchmarks/serve/openai_venv.sh DIR)    # prints DIR/bin/python on stdout
#
# Installs openai==3.22.1
# through benchmarks/venv.sh: from the local wheel index only; a DIR that already has those
# versions is reused as is; one line on stderr and exit 1 when the wheels are not there.
# $FUSELM_OPENAI_INDEX overrides the index.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 DIR   (creates or reuses a venv with openai==3.22.1 in DIR)" >&2
  exit 2
fi
export FUSELM_VENV_INDEX="${FUSELM_OPENAI_INDEX:-${FUSELM_VENV_INDEX:-/opt/pypi/simple}}"
exec "$(dirname "$0")/../venv.sh" openai_venv "$1" openai==3.22.1
