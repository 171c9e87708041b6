#!/usr/bin/env bash
# bf16 training with the rounding folded into the GEMMs (-Dfuselm.gemmMixed=true) against the
# default (narrow + fl_gemm_bf16), alternating, GPT-2 124M B=4, T=64 and T=256, 2 threads.
# Usage: benchmarks/gpt/gemm_mixed_ab.sh [rounds]   (about 3 minutes for 3 rounds, idle 2-core Zen 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${1:-3}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in on off; do
    opt=""; [ "$mode" = on ] && opt="-Dfuselm.gemmMixed=true"
    for T in 64 256; do
      steps=3; [ "$T" = 256 ] && steps=2
      line=$(FUSELM_JAVA_OPTS="$opt" bin/fuselm bench train --batch 4 --ctx "$T" --steps "$steps" \
        --threads 2 --precision bf16 2>/dev/null | tail -1)
      echo "round $r fold=$mode T=$T ms_per_step=$(sed -n 's/.*"ms_per_step":\([0-9.]*\).*/\1/p' <<<"$line")"
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
