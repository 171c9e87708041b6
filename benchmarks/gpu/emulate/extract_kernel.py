#!/usr/bin/env python3
"""Extracts the kernel part of native/cuda/gemm_bf16.cu (from its anonymous namespace up to the host
launcher) for the host emulation in gemm_bf16_emu.cpp, replacing the mma.sync inline assembly by a
call of emu_mma (the warp-collective emulation). Usage: extract_kernel.py gemm_bf16.cu OUT.inc"""
import sys
src = open(sys.argv[1]).read()
start = src.index('namespace {')
end = src.index('}  // namespace\n\nvoid gemm_bf16')
body = src[start:end] + '}  // namespace\n'
# replace mma_bf16 body
i = body.index('__device__ __forceinline__ void mma_bf16')
j = body.index('\n}\n', i) + 3
body = body[:i] + ('__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], '
                   'const uint32_t (&b)[2]) { emu_mma(d, a, b); }\n') + body[j:]
open(sys.argv[2], 'w').write(body)
