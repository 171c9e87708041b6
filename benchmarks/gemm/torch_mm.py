"""Times PyTorch's torch.mm on one shape (fp32, or bf16 operands: oneDNN's bf16 matmul on CPUs with
AVX512_BF16) with a given thread count and prints one JSON line, the same as openblas_sgemm.c and
fuselm_sgemm.cpp:
  {"impl":"torch_bf16","m":..,"n":..,"k":..,"threads":..,"trans_a":..,"trans_b":..,"gflops":..,"gflops_max":..}
gflops is the median over repeated runs (2*M*N*K flops per run), gflops_max the best run. The
operands are stored as fuselm's linear layers store them (trans_a: A is (K, M); trans_b: B is (N, K))
and passed to torch.mm as transposed views, so oneDNN sees the same layouts.

Usage (in the venv benchmarks/parity/hf_venv.sh makes):
  python torch_mm.py --m M --n N --k K [--threads T] [--trans-a] [--trans-b] [--precision fp32|bf16]
                     [--reps R]
  python torch_mm.py --serve   reads such argument lines on stdin, one JSON line out per line in
                               (peers.sh keeps one process: torch's import takes seconds)
"""
import argparse
import json
import sys
import time

import torch


def parser():
    p = argparse.ArgumentParser()
    p.add_argument("--m", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--trans-a", action="store_true")
    p.add_argument("--trans-b", action="store_true")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    p.add_argument("--reps", type=int, default=0, help="timed runs (default: about 1 s of them)")
    return p


def run(a):
    torch.set_num_threads(a.threads)
    dt = torch.bfloat16 if a.precision == "bf16" else torch.float32
    g = torch.Generator().manual_seed(1)
    A = torch.rand((a.k, a.m) if a.trans_a else (a.m, a.k), generator=g).to(dt)
    B = torch.rand((a.n, a.k) if a.trans_b else (a.k, a.n), generator=g).to(dt)
    opa = A.t() if a.trans_a else A
    opb = B.t() if a.trans_b else B
    C = torch.empty((a.m, a.n), dtype=dt)
    flop = 2.0 * a.m * a.n * a.k
    with torch.no_grad():
        for _ in range(2):
            torch.mm(opa, opb, out=C)
        reps = a.reps
        if reps <= 0:
            t0 = time.perf_counter()
            torch.mm(opa, opb, out=C)
            reps = min(max(int(1.0 / max(time.perf_counter() - t0, 1e-6)), 5), 200)
        gf = []
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(opa, opb, out=C)
            gf.append(flop / (time.perf_counter() - t0) * 1e-9)
    gf.sort()
    med = gf[reps // 2] if reps % 2 else 0.5 * (gf[reps // 2 - 1] + gf[reps // 2])
    print(json.dumps({"impl": "torch_" + a.precision, "m": a.m, "n": a.n, "k": a.k, "threads": a.threads,
                      "trans_a": a.trans_a, "trans_b": a.trans_b, "gflops": round(med, 2),
                      "gflops_max": round(gf[-1], 2)}, separators=(",", ":")), flush=True)


def main():
    if sys.argv[1:] == ["--serve"]:
        for line in sys.stdin:
            if line.strip():
                run(parser().parse_args(line.split()))
    else:
        run(parser().parse_args())


if __name__ == "__main__":
    main()
