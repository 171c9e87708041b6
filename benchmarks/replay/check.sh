#!/usr/bin/env bash
# Runs the replay (run.sh) and compares every digest with expected.txt; exit 1 on any difference.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
actual="$(mktemp)"
trap 'rm -f "$actual"' EXIT
"$here/run.sh" > "$actual"
if diff -u "$here/expected.txt" "$actual"; then
  echo "replay: $(wc -l < "$actual") digests identical to expected.txt"
else
  echo "replay: outputs moved (diff above: - expected, + now)" >&2
  exit 1
fi
