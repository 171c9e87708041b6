#!/usr/bin/env bash
# Would a bucketed all-reduce overlapped with the backward pass pay on this node (issue 16)? The
# overlap can hide at most min(all-reduce, backward) per step. Measures, in one run, on GPT-2 124M
# at one rank's shape of the 2-process benchmark (B=4 T=64, 1 kernel thread; BATCH/CTX/MODEL
# override): the training step and the inference forward pass (`fuselm bench train`, with and
# without --forward: backward + AdamW ~ step - forward), the 2-rank MPI_Allreduce of the whole
# gradient slab (allreduce_bench.c, shared memory), and the machine's FMA peak and memory
# bandwidth (benchmarks/gpt/machine_peak.c, 2 threads), with the CPU and the load average.
# Not in CI (a benchmark): about 2 minutes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
MODEL="${MODEL:-gpt2}" BATCH="${BATCH:-4}" CTX="${CTX:-64}"
bin/fuselm --version > /dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "overlap: $MODEL B=$BATCH T=$CTX, 1 thread; CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
cc -O2 -pthread -o "$work/machine_peak" benchmarks/gpt/machine_peak.c
echo "peak: $("$work/machine_peak" --threads 2 --reps 1)"
bench=(bin/fuselm bench train --config "$MODEL" --batch "$BATCH" --ctx "$CTX" --threads 1 --steps 3)
echo "step:    $("${bench[@]}" 2>/dev/null)"
echo "forward: $("${bench[@]}" --forward 2>/dev/null)"
mpicc -O2 -o "$work/allreduce_bench" benchmarks/dist/allreduce_bench.c
echo "all-reduce (2 ranks, shared memory):"
mpirun --oversubscribe -np 2 "$work/allreduce_bench"
echo "overlap: done, load $(cut -d' ' -f1-3 /proc/loadavg)"
