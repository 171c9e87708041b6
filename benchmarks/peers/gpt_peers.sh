#!/usr/bin/env bash
# fuselm against PyTorch 2.13 (the local wheel index's torch, in the venv that
# benchmarks/parity/hf_venv.sh makes) on GPT-2 124M, fp32 and bf16, at 1 and 2 threads, with the
# machine-peak probe, all alternating in one run; prints ratios and fractions of the limits.
#
# Cases: train64 = train step B=4 T=64 (forward + backward + AdamW), train256 = the same at T=256,
#        fwd256 = inference forward B=4 T=256 (logits of every position), gen = greedy decode batch 1
#        (16-token prompt, KV cache).
# Variants of each case: fuselm fp32; fuselm bf16 (train/forward: --precision bf16, mixed precision;
#        gen: --weights bf16); PyTorch fp32; PyTorch bf16 (torch.autocast cpu bfloat16).
# Order: per thread count, per round, per case: the four variants, reversed in even rounds, then
#        machine_peak at that thread count (fp32 FMA peak, read bandwidth), so every figure has a
#        limit measured minutes from it.
# Limits: train/forward GFLOP/s = (6N + 6LTC) flops per token (forward: a third) over the fp32
#        peak of the same thread count (best probe of the run); bf16 variants against 2x that
#        (AVX512_BF16's vdpbf16ps does two products per fp32 lane: an assumption, not measured).
#        Decode: tokens/s over read bandwidth / bytes of the weights as stored (fp32: 4 bytes per
#        parameter; fuselm bf16 weights: 2 per matrix weight; PyTorch autocast keeps fp32 weights).
# 1->2 efficiency: tokens/s at 2 threads / (2 x tokens/s at 1 thread), per variant (medians).
#
# Usage: benchmarks/peers/gpt_peers.sh                  (full: 4 cases, 2 rounds, tens of minutes)
#        PRESET=quick benchmarks/peers/gpt_peers.sh     (train64 + gen, 1 round, 1 timed step:
#                                                        about 5 minutes on an idle 2-core machine)
#        CASES="train64 fwd256" THREADS_LIST="2" ROUNDS=3 benchmarks/peers/gpt_peers.sh
# Needs: the local wheel index (torch 2.13.0+cpu), a C compiler, the fuselm build (bin/fuselm builds
# it on first use). HF_VENV picks the venv directory (default ~/.cache/fuselm/hf-venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PRESET="${PRESET:-full}"
case "$PRESET" in
  quick) CASES="${CASES:-train64 gen}"; ROUNDS="${ROUNDS:-1}"; STEPS="${STEPS:-1}"; NEW="${NEW:-8}" ;;
  full)  CASES="${CASES:-train64 train256 fwd256 gen}"; ROUNDS="${ROUNDS:-2}"; STEPS="${STEPS:-2}"
         NEW="${NEW:-16}" ;;
  *) echo "PRESET must be quick or full, got $PRESET" >&2; exit 2 ;;
esac
THREADS_LIST="${THREADS_LIST:-1 2}"
PY="$("$ROOT/benchmarks/parity/hf_venv.sh" "${HF_VENV:-$HOME/.cache/fuselm/hf-venv}")"
export OMP_WAIT_POLICY=PASSIVE

WORK="$(mktemp -d /tmp/fuselm-peers.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cc -O2 -pthread -o "$WORK/machine_peak" "$ROOT/benchmarks/gpt/machine_peak.c"
"$ROOT/bin/fuselm" bench train --help >/dev/null  # build once, then call the JVM directly
FUSELM=(java ${FUSELM_JAVA_OPTS:-} -cp "$ROOT/target/classes:$(cat "$ROOT/target/classpath.txt")"
        dev.fuselm.cli.Main bench)
TORCH=("$PY" "$ROOT/benchmarks/gpt/gpt2_torch_bench.py")

run_one() {  # threads case impl precision round -> appends "threads case impl prec round json"
  local th="$1" c="$2" impl="$3" prec="$4" round="$5" cmd mode b t
  case "$c" in
    train64) mode=train; b=4; t=64 ;;
    train256) mode=train; b=4; t=256 ;;
    fwd256) mode=forward; b=4; t=256 ;;
    gen) mode=generate; b=1; t=16 ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
  if [ "$impl" = fuselm ]; then
    case "$mode" in
      train) cmd=("${FUSELM[@]}" train --batch "$b" --ctx "$t" --steps "$STEPS" --precision "$prec") ;;
      forward) cmd=("${FUSELM[@]}" train --forward --batch "$b" --ctx "$t" --steps "$STEPS"
                    --precision "$prec") ;;
      generate) cmd=("${FUSELM[@]}" generate --ctx "$t" --steps "$NEW" --runs "$STEPS")
                [ "$prec" = bf16 ] && cmd+=(--weights bf16) ;;
    esac
  else
    cmd=("${TORCH[@]}" "$mode" --batch "$b" --ctx "$t" --precision "$prec" --runs "$STEPS")
    if [ "$mode" = generate ]; then cmd+=(--steps "$NEW"); else cmd+=(--steps "$STEPS"); fi
  fi
  local json
  json="$(OMP_NUM_THREADS="$th" "${cmd[@]}" --threads "$th" 2>"$WORK/stderr" | grep '^{' | tail -1)" \
    || { echo "failed: ${cmd[*]}" >&2; cat "$WORK/stderr" >&2; exit 1; }
  echo "$th $c $impl $prec $round $json" >>"$WORK/results"
  printf '  %s thr round %d %-8s %-7s %-4s %s\n' "$th" "$round" "$c" "$impl" "$prec" "$json" >&2
}

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores;" \
     "$(grep -o 'avx512[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "preset $PRESET: cases $CASES; threads $THREADS_LIST; rounds $ROUNDS; timed steps $STEPS;" \
     "load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pytorch: $("$PY" -c 'import torch; print(torch.__version__)'); java: $(java -version 2>&1 | head -1)"
start=$(date +%s)
for th in $THREADS_LIST; do
  for round in $(seq 1 "$ROUNDS"); do
    for c in $CASES; do
      order="fuselm:fp32 pytorch:fp32 fuselm:bf16 pytorch:bf16"
      [ $((round % 2)) = 0 ] && order="pytorch:bf16 fuselm:bf16 pytorch:fp32 fuselm:fp32"
      for v in $order; do run_one "$th" "$c" "${v%%:*}" "${v##*:}" "$round"; done
      echo "$th $("$WORK/machine_peak" --threads "$th" --reps 1)" >>"$WORK/peaks"
    done
  done
done
echo "cases took $(( $(date +%s) - start )) s; load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$ROOT/benchmarks/peers/summarize.py" "$WORK/results" "$WORK/peaks"
