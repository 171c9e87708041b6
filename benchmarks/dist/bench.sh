#!/usr/bin/env bash
# 1 process x 2 threads against 2 processes x 1 thread (mpirun, shared memory), the same global
# batch: GPT-2 124M at B=8 T=64 by default (MODEL=gpt2 BATCH=8 CTX=64 STEPS=5 override), over
# ../shared/data/the-verdict.txt. Prints the median seconds per step (steps 2.., from the JSON
# lines) and rank 0's mean time in the gradient all-reduce per step.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
MODEL="${MODEL:-gpt2}" BATCH="${BATCH:-8}" CTX="${CTX:-64}" STEPS="${STEPS:-5}"
bin/fuselm --version > /dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
args=(train --config "$MODEL" --data ../shared/data/the-verdict.txt --steps "$STEPS" --batch "$BATCH"
  --ctx "$CTX" --val-fraction 0 --quiet)
median_step() { # JSONL: median of batch*ctx / tokens_per_s over steps 2..
  python3 - "$1" "$((BATCH * CTX))" <<'PY'
import json, statistics, sys
tps = [json.loads(l)["tokens_per_s"] for l in open(sys.argv[1]) if '"loss"' in l]
print(f"{statistics.median(int(sys.argv[2]) / t for t in tps[1:]):.3f}")
PY
}
echo "dist bench: $MODEL B=$BATCH T=$CTX, $STEPS steps, CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
bin/fuselm "${args[@]}" --threads 2 --out "$work/one" --log-json "$work/one.jsonl" 2> "$work/one.err"
echo "1 process x 2 threads:  $(median_step "$work/one.jsonl") s/step"
mpirun --oversubscribe -np 2 bin/fuselm "${args[@]}" --threads 1 --out "$work/two" \
  --log-json "$work/two.jsonl" 2> "$work/two.err"
echo "2 processes x 1 thread: $(median_step "$work/two.jsonl") s/step;" \
  "$(grep -o 'gradient all-reduce.*' "$work/two.err")"
# the all-reduce alone (no rank waits for another), same transport
mpicc -O2 -o "$work/allreduce_bench" benchmarks/dist/allreduce_bench.c
mpirun --oversubscribe -np 2 "$work/allreduce_bench"
