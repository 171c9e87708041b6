#!/usr/bin/env python3
"""Extracts the kernel part of native/cuda/gemm_bf16.cu (from its anonymous namespace up to the host
launch code) for the host emulation in gemm_bf16_emu.cpp, replacing the inline assembly (mma.sync,
ldmatrix) by calls of the warp-collective emulations emu_mma and emu_ldsm_x4_trans.
Usage: extract_kernel.py gemm_bf16.cu OUT.inc"""
import sys
src = open(sys.argv[1]).read()
start = src.index('namespace {')
end = src.index('// One tile shape, the kernel for the operands')
body = src[start:end] + '}  // namespace\n'


def replace_function(body, signature, call):
    i = body.index(signature)
    j = body.index('\n}\n', i) + 3
    return body[:i] + signature + ' { ' + call + ' }\n' + body[j:]


body = replace_function(body, '__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], '
                        'const uint32_t (&b)[2])', 'emu_mma(d, a, b);')
body = replace_function(body, '__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const uint16_t *p)',
                        'emu_ldsm_x4_trans(r, p);')
open(sys.argv[2], 'w').write(body)
