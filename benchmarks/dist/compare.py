#!/usr/bin/env python3
"""Compares two fuselm training runs: the losses of their --log-json files and, optionally, the
weights of their model.safetensors (float32 tensors, by name). Standard library only.

  compare.py LOG_A LOG_B --loss-rtol R [--from-step S] [--weights A.safetensors B.safetensors
             --weights-atol W]

Prints the largest differences found and exits 1 when one is over its tolerance (0 = identical
bits required). Steps present in only one log are ignored; at least one step must be shared."""
import argparse
import array
import json
import struct
import sys


def losses(path, from_step):
    out = {}
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if "loss" in rec and rec["step"] >= from_step:
                out[rec["step"]] = float(rec["loss"])
    return out


def tensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        begin, end = t["data_offsets"]
        a = array.array("f")
        a.frombytes(data[begin:end])
        if sys.byteorder != "little":
            a.byteswap()
        out[name] = a
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("log_a")
    p.add_argument("log_b")
    p.add_argument("--loss-rtol", type=float, required=True)
    p.add_argument("--from-step", type=int, default=1)
    p.add_argument("--weights", nargs=2)
    p.add_argument("--weights-atol", type=float, default=0.0)
    p.add_argument("--label", default="compare")
    a = p.parse_args()
    la, lb = losses(a.log_a, a.from_step), losses(a.log_b, a.from_step)
    steps = sorted(set(la) & set(lb))
    if not steps:
        print(f"{a.label}: no step in common", file=sys.stderr)
        return 1
    worst = max(abs(la[s] - lb[s]) / max(abs(la[s]), 1e-30) for s in steps)
    ok = worst <= a.loss_rtol
    msg = (f"{a.label}: steps {steps[0]}..{steps[-1]}: largest relative loss difference {worst:.3g}"
           f" (tolerance {a.loss_rtol:g})")
    if a.weights:
        wa, wb = tensors(a.weights[0]), tensors(a.weights[1])
        if sorted(wa) != sorted(wb):
            print(f"{a.label}: the two models have different tensors", file=sys.stderr)
            return 1
        wmax, where = 0.0, ""
        for name in wa:
            if len(wa[name]) != len(wb[name]):
                print(f"{a.label}: {name} differs in size", file=sys.stderr)
                return 1
            d = max((abs(x - y) for x, y in zip(wa[name], wb[name])), default=0.0)
            if d > wmax or where == "":
                wmax, where = max(d, wmax), name if d >= wmax else where
        ok = ok and wmax <= a.weights_atol
        msg += f"; largest weight difference {wmax:.3g} in {where} (tolerance {a.weights_atol:g})"
    print(msg + ("" if ok else "  FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
