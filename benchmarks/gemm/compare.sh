#!/usr/bin/env bash
# fuselm sgemm vs OpenBLAS (Debian's libopenblas) on the GPT-2 training shapes, in one run, and the
# fuselm/OpenBLAS ratio. Each configuration is timed ROUNDS times per implementation, the two
# alternating (fuselm first in odd rounds, OpenBLAS first in even ones); each timing is itself the
# median of repeated calls, and the table shows the median over rounds (fuselm, openblas, ratio),
# then the single best call over all rounds (fl_max, ob_max, ratio): on a shared machine the best
# call is the least disturbed one.
#
# Shapes (M, N, K) as a linear layer sees them, inp (M x K) -> out (M x N) with W (N x K):
#   NN   (M, N, K)   C = A B              the listed shape, no transposes
#   fwd  (M, N, K)   out = inp W^T        trans_b
#   bwdD (M, K, N)   dinp = dout W        no transposes
#   bwdW (N, K, M)   dW = dout^T inp      trans_a
# (duplicates, e.g. for 1024^3, are run once).
#
# Usage: benchmarks/gemm/compare.sh                       (threads 1 and 2, 3 rounds)
#        THREADS="2" ROUNDS=5 benchmarks/gemm/compare.sh
#        SHAPES="256,2304,768 1024,1024,1024" benchmarks/gemm/compare.sh
# fuselm is timed with `bin/fuselm bench gemm` when bin/fuselm exists (the JSON is timed inside the
# JVM, around the native call), otherwise, or with FUSELM_DRIVER=cpp, with the C++ driver
# benchmarks/gemm/fuselm_sgemm.cpp linked against a CMake build of native/ (FUSELM_BUILD, default
# build/native-bench, configured and built here if missing). Needs libopenblas-dev, cmake, ninja.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/benchmarks/gemm"
THREADS="${THREADS:-1 2}"
ROUNDS="${ROUNDS:-3}"
SHAPES="${SHAPES:-256,2304,768 256,3072,768 256,768,3072 256,50257,768 1024,1024,1024}"
if [ -z "${WORK:-}" ]; then
  WORK="$(mktemp -d /tmp/fuselm-gemm-bench.XXXXXX)"
  trap 'rm -rf "$WORK"' EXIT
fi

source "$HERE/common.sh"
build_openblas_driver

# ---- the fuselm driver
if [ -x "$ROOT/bin/fuselm" ] && [ "${FUSELM_DRIVER:-bin}" != cpp ]; then
  "$ROOT/bin/fuselm" bench gemm --m 8 --n 8 --k 8 >/dev/null  # builds the project on first use
  FUSELM=("$ROOT/bin/fuselm" bench gemm)
else
  build_fuselm_cpp_driver
  FUSELM=("${FUSELM_CPP[@]}")
fi

gemm_configs

echo "fuselm: ${FUSELM[*]}"
echo "openblas: $(ls -l /etc/alternatives/libopenblas.so* 2>/dev/null | head -1 | sed 's/.*-> //') ($(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?'))"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; rounds: $ROUNDS"
printf '%-5s %6s %6s %6s %-5s %3s %8s %8s %6s   %8s %8s %6s\n' case M N K trans thr \
  fuselm openblas ratio fl_max ob_max ratio
for T in $THREADS; do
  for cfg in "${CONFIGS[@]}"; do
    read -r label M N K trans <<<"$cfg"
    gemm_args "$cfg" "$T"; args=("${ARGS[@]}")
    f=""; o=""; fx=""; ox=""
    for ((r = 1; r <= ROUNDS; r++)); do
      for who in $( ((r % 2)) && echo "fl ob" || echo "ob fl"); do
        if [ "$who" = fl ]; then
          line=$("${FUSELM[@]}" "${args[@]}"); f="$f $(gflops <<<"$line")"; fx="$fx $(gflops_max <<<"$line")"
        else
          line=$("${OPENBLAS[@]}" "${args[@]}"); o="$o $(gflops <<<"$line")"; ox="$ox $(gflops_max <<<"$line")"
        fi
      done
    done
    fm=$(echo "$f" | median); om=$(echo "$o" | median)
    # best single call over all rounds (the Java command reports no maximum: shown as 0)
    fb=$(echo "$fx 0" | tr ' ' '\n' | sort -g | tail -1); ob=$(echo "$ox 0" | tr ' ' '\n' | sort -g | tail -1)
    printf '%-5s %6s %6s %6s %-5s %3s %8.1f %8.1f %6.2f   %8.1f %8.1f %6.2f\n' "$label" "$M" "$N" "$K" \
      "$trans" "$T" "$fm" "$om" "$(awk -v a="$fm" -v b="$om" 'BEGIN {print a / b}')" \
      "$fb" "$ob" "$(awk -v a="$fb" -v b="$ob" 'BEGIN {print (b > 0 ? a / b : 0)}')"
  done
done
