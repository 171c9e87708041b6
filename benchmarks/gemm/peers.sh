#!/usr/bin/env bash
# fuselm's GEMM against its peers on the GPT-2 shapes, in one run: fuselm fp32 (fl_sgemm) vs
# OpenBLAS (Debian's libopenblas, OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for it only), and
# fuselm bf16 (fl_gemm_bf16) vs PyTorch 2.13's torch.mm on bf16 tensors (oneDNN), beside the fp32
# FMA peak measured by benchmarks/gpt/machine_peak.c (--fma-only) before and after each thread
# count (the bf16 peak taken as twice it: vdpbf16ps does two products per fp32 lane).
#
# For each configuration the four run alternating (order rotated every round); each timing is the
# median of repeated calls, and the table shows per implementation the median over rounds, then:
#   fp32/OB   fuselm fp32 over OpenBLAS        %pk32  fuselm fp32 as a fraction of the fp32 peak
#   bf16/pt   fuselm bf16 over torch bf16      %pk16  fuselm bf16 as a fraction of 2x the fp32 peak
# Shapes and transposes as benchmarks/gemm/compare.sh (NN, fwd = trans_b, bwdD, bwdW = trans_a).
#
# Usage: benchmarks/gemm/peers.sh                 (threads 1 and 2, 3 rounds, every configuration)
#        PRESET=quick benchmarks/gemm/peers.sh    (1 round of 10 calls, fwd/bwdD/bwdW of each
#                                                  shape: about 3 minutes on an idle 2-core machine)
#        THREADS=2 ROUNDS=5 SHAPES="256,50257,768" benchmarks/gemm/peers.sh
# Needs libopenblas-dev, cmake, ninja, and the torch venv (benchmarks/parity/hf_venv.sh, from the
# local wheel index; TORCH_PY=/path/to/python to use another). fuselm is timed by the C++ driver
# benchmarks/gemm/fuselm_sgemm.cpp against a Release build of native/ in FUSELM_BUILD (default
# build/native-bench, configured and built here if missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/benchmarks/gemm"
THREADS="${THREADS:-1 2}"
ROUNDS="${ROUNDS:-3}"
REPS="${REPS:-0}"  # calls per timing (0: about 1 s of them)
CASES="${CASES:-NN fwd bwdD bwdW}"
if [ "${PRESET:-}" = quick ]; then
  ROUNDS=1
  REPS=10
  CASES="fwd bwdD bwdW"
fi
SHAPES="${SHAPES:-256,2304,768 256,3072,768 256,768,3072 256,50257,768 1024,1024,1024}"
WORK="$(mktemp -d /tmp/fuselm-gemm-peers.XXXXXX)"
trap 'exec 3>&- 4<&-; wait; rm -rf "$WORK"' EXIT

source "$HERE/common.sh"
build_openblas_driver
build_fuselm_cpp_driver
cc -O2 -pthread -o "$WORK/machine_peak" "$ROOT/benchmarks/gpt/machine_peak.c"
TORCH_PY="${TORCH_PY:-$("$ROOT/benchmarks/parity/hf_venv.sh" "${HF_VENV:-$HOME/.cache/fuselm/hf-venv}")}"

# torch runs as one long-lived process (its import takes seconds): a line of arguments in, a JSON
# line out.
mkfifo "$WORK/torch.in" "$WORK/torch.out"
"$TORCH_PY" "$HERE/torch_mm.py" --serve <"$WORK/torch.in" >"$WORK/torch.out" &
exec 3>"$WORK/torch.in" 4<"$WORK/torch.out"

peak() { "$WORK/machine_peak" --threads "$1" --reps 2 --fma-only | sed -n 's/.*"fp32_peak_gflops":\([0-9.]*\).*/\1/p'; }
run_one() {  # who args...
  local who="$1"; shift
  case "$who" in
    fl) "${FUSELM_CPP[@]}" "$@" ;;
    fl16) "${FUSELM_CPP[@]}" --bf16 "$@" ;;
    ob) "${OPENBLAS[@]}" "$@" ;;
    pt) echo "$* --precision bf16" >&3; local line; read -r line <&4; echo "$line" ;;
  esac
}

gemm_configs

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores;" \
  "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|avx512_vp2intersect)$' | xargs)"
echo "openblas $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?'); torch $("$TORCH_PY" -c 'import torch; print(torch.__version__)'); rounds $ROUNDS, reps ${REPS/#0/auto}; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for T in $THREADS; do
  p0=$(peak "$T")
  echo "threads $T: fp32 FMA peak $p0 GFLOP/s (machine_peak --fma-only, before)"
  printf '%-5s %6s %6s %6s %-3s %8s %8s %6s %6s   %8s %8s %6s %6s\n' case M N K tr \
    fl_fp32 openblas fp32/OB %pk32 fl_bf16 torch16 bf16/pt %pk16
  rows=()
  for cfg in "${CONFIGS[@]}"; do
    read -r label M N K trans <<<"$cfg"
    gemm_args "$cfg" "$T"; args=("${ARGS[@]}")
    [ "$REPS" -gt 0 ] && args+=(--reps "$REPS")
    declare -A got=([fl]="" [ob]="" [fl16]="" [pt]="")
    order=(fl ob fl16 pt)
    for ((r = 0; r < ROUNDS; r++)); do
      for ((i = 0; i < 4; i++)); do
        who=${order[$(((i + r) % 4))]}
        got[$who]="${got[$who]} $(run_one "$who" "${args[@]}" | gflops)"
      done
    done
    f=$(echo "${got[fl]}" | median); o=$(echo "${got[ob]}" | median)
    h=$(echo "${got[fl16]}" | median); t=$(echo "${got[pt]}" | median)
    rows+=("$label $M $N $K $trans $f $o $h $t")
  done
  p1=$(peak "$T")
  pk=$(awk -v a="$p0" -v b="$p1" 'BEGIN {print (a > b ? a : b)}')
  for row in "${rows[@]}"; do
    read -r label M N K trans f o h t <<<"$row"
    awk -v l="$label" -v M="$M" -v N="$N" -v K="$K" -v tr="$trans" -v f="$f" -v o="$o" -v h="$h" \
      -v t="$t" -v pk="$pk" 'BEGIN {
        printf "%-5s %6s %6s %6s %-3s %8.1f %8.1f %6.2f %5.0f%%   %8.1f %8.1f %6.2f %5.0f%%\n",
          l, M, N, K, tr, f, o, f / o, 100 * f / pk, h, t, h / t, 100 * h / (2 * pk) }'
  done
  echo "threads $T: fp32 FMA peak $p1 GFLOP/s (after); fractions use the larger, $pk; load: $(cut -d' ' -f1-3 /proc/loadavg)"
done
