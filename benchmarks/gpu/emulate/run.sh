#!/usr/bin/env bash
# Host emulation of the fl_gemm_bf16 CUDA kernel (native/cuda/gemm_bf16.cu), for machines without a
# GPU: the kernel's own source text (extracted by extract_kernel.py, CUDA keywords mapped to host
# C++) runs with one std::thread per CUDA thread, a barrier for __syncthreads, and mma.m16n8k16
# emulated per warp from the PTX ISA fragment tables; results are checked against a double loop on
# awkward shapes, every transpose combination, both tile sizes, padded leading dimensions and
# misaligned operands. It checks the kernel's index arithmetic (loader, shared-memory layout, warp
# tiling, fragments, edges, epilogue); it cannot check the real tensor cores, timing, or memory
# ordering on a GPU. Never a substitute for benchmarks/gpu/run.sh on a GPU. About a minute.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 "$HERE/extract_kernel.py" "$HERE/../../../native/cuda/gemm_bf16.cu" "$WORK/kernel_emu.inc"
g++ -std=c++17 -O1 -Wno-unknown-pragmas -pthread -I "$WORK" "$HERE/gemm_bf16_emu.cpp" -o "$WORK/emu"
"$WORK/emu"
