#!/usr/bin/env bash
# The GPU check, one command, for a machine with an NVIDIA GPU (sm_80 or newer) and nvcc:
#   1. builds native/ with FUSELM_CUDA=ON (sm_80 + sm_90 SASS, compute_90 PTX) and lists the GPU code
#      the library carries (fatbin_archs.py);
#   2. runs the native CUDA conformance tests (`fuselm_tests cuda_`: every op vs the reference) and
#      the whole native suite;
#   3. runs the Java conformance table (OpConformanceTest: CUDA rows beside the CPU ones) through Maven, unless SKIP_JAVA=1;
#   4. builds and runs benchmarks/gpu/cuda_bench.cu: GEMM TFLOP/s (fp32 SIMT, TF32, bf16; cuBLAS beside
#      it when libcublas is installed), attention vs a naive kernel, memory-bound ops, and a synthetic
#      GPT-2 124M training step (tokens/s);
#   5. times the real GPT-2 124M training step through the CLI on the CUDA backend (`fuselm bench
#      train`, B=8, T=1024), fp32 and, when the build has `--precision`, bf16 beside it (unless
#      SKIP_JAVA=1; group "train");
#   6. writes everything to a report (REPORT, default benchmarks/gpu/report-<host>-<date>.md).
# Between 3. and 4.: the NCCL data-parallel check (benchmarks/gpu/nccl_check.sh: NCCL collectives vs
# MPI's, and with 2 GPUs a 2-process CUDA training run vs 1 process; skipped, with the reason, without
# mpirun, NCCL or a second GPU; bounded by `timeout 1200`).
# Exit status: non-zero when a build or a conformance test fails; the benchmarks only report.
#
# Usage: benchmarks/gpu/run.sh                 (everything)
#        ONLY=gemm benchmarks/gpu/run.sh       (one benchmark group: gemm, attention, ops, train)
#        ONLY=nccl benchmarks/gpu/run.sh       (build, conformance, then the NCCL check alone)
#        BUILD=/tmp/fl-gpu SKIP_JAVA=1 benchmarks/gpu/run.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/benchmarks/gpu"
BUILD="${BUILD:-$ROOT/target/native-gpu}"
ONLY="${ONLY:-all}"
REPORT="${REPORT:-$HERE/report-$(hostname -s)-$(date +%Y%m%d-%H%M).md}"
NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
CUDA_HOME="${CUDA_HOME:-$(dirname "$(dirname "$NVCC")")}"

log() { echo "== $*" >&2; }
section() { printf '\n## %s\n\n' "$1" >>"$REPORT"; }
fence() { printf '```\n' >>"$REPORT"; cat >>"$REPORT"; printf '```\n' >>"$REPORT"; }

: >"$REPORT"
{
  echo "# fuselm GPU check"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "- host: $(hostname)"
  echo "- nvcc: $("$NVCC" --version | tail -1)"
} >>"$REPORT"
if command -v nvidia-smi >/dev/null; then
  section "Device"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | fence
fi

log "building native/ with CUDA into $BUILD"
cmake -S "$ROOT/native" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSELM_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" >/dev/null
start=$(date +%s)
cmake --build "$BUILD"
section "Build"
{
  echo "native build with CUDA: $(( $(date +%s) - start )) s wall on $(nproc) cores"
  python3 "$HERE/fatbin_archs.py" "$BUILD/libfuselm.so" --expect sm_80:sass,sm_90:sass,sm_90:ptx
} | fence

log "native CUDA conformance tests"
status=0
set +e
"$BUILD/fuselm_tests" cuda_ >"$BUILD/cuda_tests.log" 2>&1
rc=$?
"$BUILD/fuselm_tests" >"$BUILD/all_tests.log" 2>&1
rc_all=$?
set -e
section "Native CUDA conformance (fuselm_tests cuda_), exit $rc"
fence <"$BUILD/cuda_tests.log"
section "Whole native suite, exit $rc_all"
grep -v '^PASS' "$BUILD/all_tests.log" | fence
if [ "$rc_all" -ne 0 ]; then status=1; fi
if [ "$rc" -eq 77 ]; then
  # every CUDA test skipped: no usable device (no driver, no GPU, or compute capability < 8.0)
  echo "no usable CUDA device: the CUDA tests were skipped (see the report); no benchmarks run" | tee -a "$REPORT" >&2
  log "report: $REPORT"
  exit 1
fi
if [ "$rc" -ne 0 ]; then status=1; fi

if [ "${SKIP_JAVA:-0}" != 1 ] && command -v mvn >/dev/null; then
  log "Java OpConformanceTest"
  set +e
  (cd "$ROOT" && mvn -q -B -Dfuselm.cuda=ON -Dtest=OpConformanceTest \
     -Dsurefire.failIfNoSpecifiedTests=false test) >"$BUILD/java_tests.log" 2>&1
  rc_java=$?
  set -e
  section "Java OpConformanceTest, exit $rc_java"
  tail -40 "$BUILD/java_tests.log" | fence
  if ls "$ROOT"/target/surefire-reports/*OpConformanceTest.txt >/dev/null 2>&1; then
    cat "$ROOT"/target/surefire-reports/*OpConformanceTest.txt | fence
  fi
  if [ "$rc_java" -ne 0 ]; then status=1; fi
fi

if [ "$ONLY" = all ] || [ "$ONLY" = nccl ]; then
  log "NCCL data-parallel check"
  set +e
  BUILD="$BUILD" NVCC="$NVCC" timeout 1200 "$HERE/nccl_check.sh" >"$BUILD/nccl.log" 2>&1
  rc_nccl=$?
  set -e
  section "NCCL data-parallel check (nccl_check.sh), exit $rc_nccl"
  fence <"$BUILD/nccl.log"
  if [ "$rc_nccl" -ne 0 ]; then status=1; fi
  if [ "$ONLY" = nccl ]; then
    log "report: $REPORT"
    exit $status
  fi
fi

log "benchmarks"
cublas=()
if [ -e "$CUDA_HOME/include/cublas_v2.h" ] && ls "$CUDA_HOME"/lib64/libcublas.so* >/dev/null 2>&1; then
  cublas=(-DFUSELM_BENCH_CUBLAS -lcublas)
fi
"$NVCC" -O2 -std=c++17 -arch=native -I "$ROOT/native/include" "$HERE/cuda_bench.cu" -L"$BUILD" -lfuselm \
  -Xlinker -rpath,"$BUILD" "${cublas[@]}" -o "$BUILD/cuda_bench"
section "Benchmarks (cuda_bench $ONLY$([ ${#cublas[@]} -gt 0 ] && echo ', with cuBLAS' || echo ', no cuBLAS found'))"
set +e
"$BUILD/cuda_bench" "$ONLY" 2>&1 | tee "$BUILD/bench.jsonl" | fence
set -e

if [ "${SKIP_JAVA:-0}" != 1 ] && command -v mvn >/dev/null && { [ "$ONLY" = all ] || [ "$ONLY" = train ]; }; then
  log "fuselm bench train: GPT-2 124M on the CUDA backend"
  # --precision (fp32|bf16) came with bf16 training: older builds time fp32 alone
  precisions=(fp32)
  if "$ROOT/bin/fuselm" bench train --help 2>/dev/null | grep -- '--precision' >/dev/null; then
    precisions+=(bf16)
  fi
  section "fuselm bench train --config gpt2 --batch 8 --ctx 1024 (CUDA backend; ${precisions[*]})"
  set +e
  for p in "${precisions[@]}"; do
    args=()
    if [ "${#precisions[@]}" -gt 1 ]; then args=(--precision "$p"); fi
    echo "precision $p:"
    FUSELM_JAVA_OPTS="-Dfuselm.backend=cuda" "$ROOT/bin/fuselm" bench train --config gpt2 --batch 8 \
      --ctx 1024 --steps 5 ${args[@]+"${args[@]}"} 2>&1
  done | tee "$BUILD/bench_train.log" | fence
  set -e
fi

log "report: $REPORT"
exit $status
