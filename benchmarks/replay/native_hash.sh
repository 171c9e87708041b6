#!/usr/bin/env bash
# Digests of every native op's outputs (native/tools/op_hashes.cpp): REFERENCE, and CPU at every ISA
# level this CPU has (0 generic, 1 AVX2, 2 AVX-512, 3 AVX512_BF16) with 1 and 2 threads. Compares
# them with native_hashes.txt (recorded on an AVX512_BF16 CPU; lines of ISA levels above this CPU's
# best are left out of the comparison). `--record` rewrites native_hashes.txt instead.
# Builds into target/native-hash (about 1 minute from scratch on 2 cores; the run takes seconds).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/target/native-hash"
cmake -S "$root/native" -B "$build" -G Ninja -DFUSELM_CUDA=OFF -DFUSELM_DIST=OFF > /dev/null
cmake --build "$build" --target fuselm_op_hashes > /dev/null
actual="$(mktemp)"
trap 'rm -f "$actual"' EXIT
"$build/fuselm_op_hashes" > "$actual"
if [[ "${1:-}" == "--record" ]]; then
  cp "$actual" "$here/native_hashes.txt"
  echo "native_hash: recorded $(wc -l < "$actual") digests"
  exit 0
fi
best="$(awk '$1 == "cpu" { if ($2 > m) m = $2 } END { print m + 0 }' "$actual")"
expected="$(mktemp)"
trap 'rm -f "$actual" "$expected"' EXIT
awk -v best="$best" '$1 != "cpu" || $2 <= best' "$here/native_hashes.txt" > "$expected"
if diff -u "$expected" "$actual"; then
  echo "native_hash: $(wc -l < "$actual") digests identical to native_hashes.txt (ISA levels 0..$best)"
else
  echo "native_hash: op outputs moved (diff above: - recorded, + now)" >&2
  exit 1
fi
