#!/usr/bin/env bash
# The NCCL data-parallel check (issue 16), for a machine with NVIDIA GPUs; benchmarks/gpu/run.sh runs
# it (ONLY=nccl runs it alone). One GPU per rank: NCCL (>= 2.5) refuses two ranks on one device
# ("Duplicate GPU detected"), so each rank sees its own GPU through CUDA_VISIBLE_DEVICES.
#   1. fuselm_nccl_tests: NCCL sum, mean and broadcast of device buffers equal libfuselm_dist's MPI
#      ones (sum bit for bit with 2 ranks, mean within 1e-6 relative, broadcast bit for bit); with
#      one GPU, the same over a world of one (NCCL's set-up and calls, no exchange);
#   2. with 2 GPUs (and unless SKIP_JAVA=1): benchmarks/dist/check.sh's tiny GPT (no dropout) trained
#      8 steps on the CUDA backend by 1 process with batch 4 and by 2 (mpirun, a GPU each): the
#      logged losses within rtol 1e-5 and the final weights within atol 2e-5 (benchmarks/dist/
#      compare.py), and the 2-process log says it was data-parallel.
# Skips, saying why, with exit 0: no mpirun, no NCCL (FUSELM_NCCL_ROOT, else the nvidia-nccl-cu13
# wheel through benchmarks/dist/nccl_venv.sh), no GPU. Exit 1 when a check fails. Bounded: every
# mpirun runs under `timeout 300`; the CUDA Maven build of step 2 is the long part (minutes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/target/native-gpu}"
NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
cd "$ROOT"
skip() { echo "nccl: skipped: $*"; exit 0; }

command -v mpirun >/dev/null || skip "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
if [ -z "${FUSELM_NCCL_ROOT:-}" ]; then
  if ! FUSELM_NCCL_ROOT="$(benchmarks/dist/nccl_venv.sh "$HOME/.cache/fuselm/nccl-venv" 2>&1)"; then
    skip "no NCCL: set FUSELM_NCCL_ROOT to a directory with include/nccl.h and lib/libnccl.so.2" \
      "($FUSELM_NCCL_ROOT)"
  fi
  FUSELM_NCCL_ROOT="$(tail -n1 <<<"$FUSELM_NCCL_ROOT")"
fi
export FUSELM_NCCL_ROOT
[ -f "$FUSELM_NCCL_ROOT/include/nccl.h" ] || skip "$FUSELM_NCCL_ROOT/include/nccl.h not found"
export LD_LIBRARY_PATH="$FUSELM_NCCL_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
[ "$gpus" -ge 1 ] || skip "no GPU (nvidia-smi lists none)"
ranks=$(( gpus >= 2 ? 2 : 1 ))
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# each rank sees only the GPU of its node-local rank
cat > "$BUILD/one-gpu.sh" <<'SH'
#!/usr/bin/env bash
export CUDA_VISIBLE_DEVICES="${OMPI_COMM_WORLD_LOCAL_RANK:-0}"
exec "$@"
SH
chmod +x "$BUILD/one-gpu.sh"
mpi=(timeout 300 mpirun --oversubscribe -np "$ranks" "$BUILD/one-gpu.sh")

echo "nccl: building libfuselm_dist with NCCL from $FUSELM_NCCL_ROOT into $BUILD"
cmake -S native -B "$BUILD" -G Ninja -DFUSELM_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" \
  -DFUSELM_NCCL_ROOT="$FUSELM_NCCL_ROOT" | grep 'fuselm: .*NCCL'
cmake --build "$BUILD" --target fuselm_dist fuselm_nccl_tests >/dev/null
echo "nccl: 1. NCCL vs MPI collectives, $ranks rank(s) on $gpus GPU(s)"
"${mpi[@]}" "$BUILD/fuselm_nccl_tests"
if [ "$ranks" -lt 2 ]; then
  skip "2-rank checks: one GPU here, and NCCL needs one GPU per rank (the 1-rank check passed)"
fi
[ "${SKIP_JAVA:-0}" != 1 ] || skip "2-process CUDA training (SKIP_JAVA=1)"

echo "nccl: 2. 1 vs 2 processes training on the CUDA backend (building the CUDA jar with NCCL)"
mvn -B -q package -DskipTests -Dfuselm.skipAsan=true -Dfuselm.cuda=ON >/dev/null
touch target/.fuselm-built
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/config.json" <<'JSON'
{"vocab_size": 50257, "n_positions": 64, "n_embd": 32, "n_layer": 2, "n_head": 2,
 "embd_pdrop": 0.0, "resid_pdrop": 0.0, "attn_pdrop": 0.0}
JSON
export FUSELM_JAVA_OPTS="-Dfuselm.backend=cuda"
train=(bin/fuselm train --config "$work/config.json" --data ../shared/data/the-verdict.txt
  --steps 8 --batch 4 --ctx 32 --lr 1e-3 --schedule constant --quiet)
CUDA_VISIBLE_DEVICES=0 timeout 300 "${train[@]}" --out "$work/one" --log-json "$work/one.jsonl" \
  > "$work/one.log" 2>&1 || { cat "$work/one.log"; exit 1; }
"${mpi[@]}" "${train[@]}" --out "$work/two" --log-json "$work/two.jsonl" > "$work/two.log" 2>&1 \
  || { cat "$work/two.log"; echo "nccl: the 2-process CUDA run failed" >&2; exit 1; }
grep -q "data-parallel over 2 processes" "$work/two.log" \
  || { cat "$work/two.log"; echo "nccl: the mpirun run was not data-parallel" >&2; exit 1; }
python3 benchmarks/dist/compare.py --label "CUDA backend, 1 vs 2 processes (NCCL)" \
  "$work/one.jsonl" "$work/two.jsonl" --loss-rtol 1e-5 \
  --weights "$work/one/model.safetensors" "$work/two/model.safetensors" --weights-atol 2e-5
echo "nccl: checks passed"
