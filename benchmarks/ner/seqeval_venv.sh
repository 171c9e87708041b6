#!/usr/bin/env bash
# A venv with numpy and scikit-learn from the machine's local wheel index (seqeval's imports), for
# benchmarks/ner/seqeval_fixtures.py. seqeval itself is not in the local index: the fixture script
# imports it from a checkout of github.com/chakki-works/seqeval given as SEQEVAL_SRC (read, run,
# never copied into this repository).
#   PY=$(benchmarks/ner/seqeval_venv.sh DIR)     # prints DIR/bin/python
set -euo pipefail
dir="${1:?usage: $0 DIR}"
py="$dir/bin/python"
if [ -x "$py" ] && "$py" -c 'import numpy, sklearn' 2>/dev/null; then
  echo "$py"; exit 0
fi
python3 -m venv "$dir" >&2
"$py" -m pip install -q --find-links /opt/wheels \
  --index-url file:///opt/pypi/simple --extra-index-url file:///opt/pypi-more/simple \
  numpy scikit-learn >&2
echo "$py"
