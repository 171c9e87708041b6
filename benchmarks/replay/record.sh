#!/usr/bin/env bash
# Records the replay digests (see run.sh) as the expected ones. Run before a refactor, commit the file.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/run.sh" > "$here/expected.txt.new"
mv "$here/expected.txt.new" "$here/expected.txt"
cat "$here/expected.txt"
