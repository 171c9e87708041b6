#!/usr/bin/env bash
# Batch-1 decode of GPT-2 124M (random weights) with fp32, bf16 and int8 (Q8_0) weights, each run
# followed by machine_peak's read bandwidth, alternating, ROUNDS rounds per thread count: prints
# medians of tokens/s, the ratio to fp32 (median of per-round ratios), and tokens/s over the
# bandwidth bound of the run beside it (read GB/s / matrix bytes read per token), with the
# --profile breakdown (ms per token of the block matrices, LM head, attention, the rest) and each
# weight component's GB/s as a fraction of the read bandwidth beside it (mat %bw, head %bw).
# A weight name with ":old" (e.g. bf16:old) runs the previous small-M kernels and a pool that
# sleeps at once (FUSELM_GEMV=0 FUSELM_SPIN_US=0), for before/after in the same run; with
# ":prevattn" (e.g. bf16:prevattn) the previous cached-attention kernel (FUSELM_ATTN_CACHED=0).
# CTX=n sets the prompt length (default 16).
# With two thread counts it also prints the 1 -> 2 thread speedup of decode and of the bandwidth.
# Usage: ROUNDS=3 THREADS="1 2" STEPS=64 benchmarks/gpt/decode_weights.sh   (needs bin/fuselm built)
#        PRESET=quick benchmarks/gpt/decode_weights.sh   (fp32 and bf16, 1 and 2 threads, 3 rounds,
#        24 tokens: about 2-3 minutes on a quiet 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${PRESET:-}" = quick ]; then
  ROUNDS=${ROUNDS:-3}
  THREADS=${THREADS:-"1 2"}
  STEPS=${STEPS:-24}
  WEIGHTS=${WEIGHTS:-"fp32 bf16"}
  RUNS=${RUNS:-2}
fi
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-"1 2"}
STEPS=${STEPS:-64}
WEIGHTS=${WEIGHTS:-"fp32 bf16 int8"}
RUNS=${RUNS:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
cc -O2 -pthread -o "$out/machine_peak" benchmarks/gpt/machine_peak.c
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p')), $(nproc) cpus, $(lscpu | grep -o 'avx512_vnni\|avx512_bf16\|avx2' | sort -u | tr '\n' ' ')"
echo "load before: $(uptime | sed 's/.*load average: //')"
for t in $THREADS; do
  for r in $(seq "$ROUNDS"); do
    for w in $WEIGHTS; do
      f=${w/:/-}
      if [ "$w" != "${w%:old}" ]; then env_old="FUSELM_GEMV=0 FUSELM_SPIN_US=0"; else env_old=""; fi
      if [ "$w" != "${w%:prevattn}" ]; then env_old="FUSELM_ATTN_CACHED=0"; fi
      env $env_old bin/fuselm bench generate --weights "${w%:*}" --threads "$t" --steps "$STEPS" \
        --ctx "${CTX:-16}" \
        --runs "$RUNS" --profile 2>/dev/null | grep '"bench":"generate"' > "$out/gen-$t-$r-$f.json"
      "$out/machine_peak" --threads "$t" --reps 2 > "$out/peak-$t-$r-$f.json"
    done
  done
done
echo "load after: $(uptime | sed 's/.*load average: //'); $(( $(date +%s) - start )) s"
python3 - "$out" "$ROUNDS" "$THREADS" "$WEIGHTS" <<'PY'
import json, statistics as st, sys
out, rounds, threads, weights = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
med = st.median
load = lambda kind, t, r, w: json.load(open(f"{out}/{kind}-{t}-{r}-{w.replace(':', '-')}.json"))
print(f"{'threads':>7} {'weights':>8} {'tok/s':>7} {'x fp32':>12} {'read GB/s':>9} {'% bound':>14}"
      f" {'matrices':>8} {'lm_head':>7} {'attn':>6} {'rest':>6}  {'mat GB/s':>8} {'head GB/s':>9}"
      f" {'mat %bw':>7} {'head %bw':>8}")
tps_of = {}
for t in threads:
    for w in weights:
        g = [load("gen", t, r, w) for r in range(1, rounds + 1)]
        p = [load("peak", t, r, w) for r in range(1, rounds + 1)]
        tps = [x["tokens_per_s"] for x in g]
        tps_of[t, w] = med(tps)
        ratio = [x["tokens_per_s"] / load("gen", t, r + 1, "fp32")["tokens_per_s"]
                 for r, x in enumerate(g)] if "fp32" in weights else [float("nan")]
        frac = [x["tokens_per_s"] * x["matmul_weight_bytes_per_token"] / 1e9 / q["read_gbs"]
                for x, q in zip(g, p)]
        mat = [x["profile"]["matrices_gbs"] / q["read_gbs"] for x, q in zip(g, p)]
        head = [x["profile"]["lm_head_gbs"] / q["read_gbs"] for x, q in zip(g, p)]
        pr = {k: med([x["profile"][k] for x in g]) for k in g[0]["profile"]}
        print(f"{t:>7} {w:>8} {med(tps):7.1f} {med(ratio):5.2f} [{min(ratio):.2f}-{max(ratio):.2f}]"
              f" {med([q['read_gbs'] for q in p]):9.1f} {100 * med(frac):4.0f}% [{100 * min(frac):.0f}-{100 * max(frac):.0f}%]"
              f" {pr['matrices']:8.2f} {pr['lm_head']:7.2f} {pr['attention']:6.2f} {pr['rest']:6.2f}"
              f"  {pr['matrices_gbs']:8.1f} {pr['lm_head_gbs']:9.1f} {100 * med(mat):6.0f}% {100 * med(head):7.0f}%")
if "1" in threads and "2" in threads:
    bw = {t: med([load("peak", t, r, w)["read_gbs"] for r in range(1, rounds + 1) for w in weights])
          for t in ("1", "2")}
    print(f"1 -> 2 threads: read bandwidth x{bw['2'] / bw['1']:.2f}; decode "
          + ", ".join(f"{w} x{tps_of['2', w] / tps_of['1', w]:.2f}" for w in weights))
PY
