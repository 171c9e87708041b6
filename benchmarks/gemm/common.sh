# Shared by compare.sh and peers.sh (sourced, not run): the peer drivers, the GEMM cases of the
# GPT-2 shapes, and the small text helpers. Expects ROOT, HERE and WORK to be set.

# The OpenBLAS driver, run with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (this machine kind may
# preset them, which would pin OpenBLAS to another kernel): sets OPENBLAS=(command...).
build_openblas_driver() {
  if ! compgen -G '/usr/include/cblas.h' >/dev/null && ! compgen -G '/usr/include/*/cblas.h' >/dev/null; then
    echo "cblas.h not found: apt-get install -y libopenblas-dev" >&2
    exit 1
  fi
  cc -O2 -o "$WORK/openblas_sgemm" "$HERE/openblas_sgemm.c" -lopenblas
  OPENBLAS=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$WORK/openblas_sgemm")
}

# The C++ fuselm driver (fuselm_sgemm.cpp) against a Release build of native/ in FUSELM_BUILD
# (default build/native-bench, configured and built here if missing): sets FUSELM_CPP=(command...).
build_fuselm_cpp_driver() {
  local build="${FUSELM_BUILD:-$ROOT/build/native-bench}"
  if [ ! -e "$build/libfuselm.so" ]; then
    cmake -S "$ROOT/native" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSELM_BUILD_TESTS=OFF -DFUSELM_CUDA=OFF >/dev/null
    cmake --build "$build" --target fuselm >/dev/null
  fi
  c++ -O2 -std=c++17 -I "$ROOT/native/include" -o "$WORK/fuselm_sgemm" "$HERE/fuselm_sgemm.cpp" \
      -L"$build" -lfuselm -Wl,-rpath,"$build"
  FUSELM_CPP=("$WORK/fuselm_sgemm")
}

# CONFIGS: one "label m n k trans" line per case of every shape in SHAPES ("M,N,K ..."), as a linear
# layer inp (M x K) -> out (M x N) sees them; only the labels in CASES (default all), duplicates once.
gemm_configs() {
  local cases=" ${CASES:-NN fwd bwdD bwdW} " s M N K
  CONFIGS=()
  declare -A seen
  _add() {
    case "$cases" in *" $1 "*) ;; *) return ;; esac
    if [ -z "${seen[$2,$3,$4,$5]:-}" ]; then seen[$2,$3,$4,$5]=1; CONFIGS+=("$*"); fi
  }
  for s in $SHAPES; do
    IFS=, read -r M N K <<<"$s"
    _add NN "$M" "$N" "$K" NN
    _add fwd "$M" "$N" "$K" NT
    _add bwdD "$M" "$K" "$N" NN
    _add bwdW "$N" "$K" "$M" TN
  done
}

# The driver arguments of one "label m n k trans" case on T threads: sets ARGS=(...).
gemm_args() {
  local label M N K trans
  read -r label M N K trans <<<"$1"
  ARGS=(--m "$M" --n "$N" --k "$K" --threads "$2")
  [ "${trans:0:1}" = T ] && ARGS+=(--trans-a)
  [ "${trans:1:1}" = T ] && ARGS+=(--trans-b)
  return 0
}

gflops() { sed -n 's/.*"gflops":\([0-9.]*\).*/\1/p'; }
gflops_max() { sed -n 's/.*"gflops_max":\([0-9.]*\).*/\1/p'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
