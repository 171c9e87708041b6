#!/usr/bin/env bash
# Batch-1 decode of GPT-2 124M (random weights) with fp32, bf16 and int8 (Q8_0) weights, each run
# followed by machine_peak's read bandwidth, alternating, ROUNDS rounds per thread count: prints
# medians of tokens/s, the ratio to fp32 (median of per-round ratios), and tokens/s over the
# bandwidth bound of the run beside it (read GB/s / matrix bytes read per token), with the
# --profile breakdown (ms per token of the block matrices, LM head, attention, the rest).
# Usage: ROUNDS=3 THREADS="1 2" STEPS=64 benchmarks/gpt/decode_weights.sh   (needs bin/fuselm built)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-"1 2"}
STEPS=${STEPS:-64}
WEIGHTS=${WEIGHTS:-"fp32 bf16 int8"}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -O2 -pthread -o "$out/machine_peak" benchmarks/gpt/machine_peak.c
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(lscpu | grep -o 'avx512_vnni\|avx512_bf16\|avx2' | sort -u | tr '\n' ' ')"
echo "load before: $(uptime | sed 's/.*load average: //')"
for t in $THREADS; do
  for r in $(seq "$ROUNDS"); do
    for w in $WEIGHTS; do
      bin/fuselm bench generate --weights "$w" --threads "$t" --steps "$STEPS" --runs 3 --profile \
        2>/dev/null | grep '^{' > "$out/gen-$t-$r-$w.json"
      "$out/machine_peak" --threads "$t" --reps 2 > "$out/peak-$t-$r-$w.json"
    done
  done
done
echo "load after: $(uptime | sed 's/.*load average: //')"
python3 - "$out" "$ROUNDS" "$THREADS" "$WEIGHTS" <<'PY'
import json, statistics as st, sys
out, rounds, threads, weights = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
med = st.median
print(f"{'threads':>7} {'weights':>7} {'tok/s':>7} {'x fp32':>12} {'read GB/s':>9} {'% bound':>14}"
      f" {'matrices':>8} {'lm_head':>7} {'attn':>6} {'rest':>6}  {'mat GB/s':>8} {'head GB/s':>9}")
for t in threads:
    for w in weights:
        g = [json.load(open(f"{out}/gen-{t}-{r}-{w}.json")) for r in range(1, rounds + 1)]
        p = [json.load(open(f"{out}/peak-{t}-{r}-{w}.json")) for r in range(1, rounds + 1)]
        tps = [x["tokens_per_s"] for x in g]
        ratio = [x["tokens_per_s"] / json.load(open(f"{out}/gen-{t}-{r + 1}-fp32.json"))["tokens_per_s"]
                 for r, x in enumerate(g)] if "fp32" in weights else [float("nan")]
        frac = [x["tokens_per_s"] * x["matmul_weight_bytes_per_token"] / 1e9 / q["read_gbs"]
                for x, q in zip(g, p)]
        pr = {k: med([x["profile"][k] for x in g]) for k in g[0]["profile"]}
        print(f"{t:>7} {w:>7} {med(tps):7.1f} {med(ratio):5.2f} [{min(ratio):.2f}-{max(ratio):.2f}]"
              f" {med([q['read_gbs'] for q in p]):9.1f} {100 * med(frac):4.0f}% [{100 * min(frac):.0f}-{100 * max(frac):.0f}%]"
              f" {pr['matrices']:8.2f} {pr['lm_head']:7.2f} {pr['attention']:6.2f} {pr['rest']:6.2f}"
              f"  {pr['matrices_gbs']:8.1f} {pr['lm_head_gbs']:9.1f}")
PY
