#!/usr/bin/env python3
"""Compares two fuselm training runs: the losses of their --log-json files and, optionally, the
weights of their model.safetensors (float32 tensors, by name). Standard library only.

  compare.py LOG_A LOG_B --loss-rtol R [--from-step S] [--key K ...] [--weights A B
             --weights-atol W]

--key names the figures to compare (default: loss), dotted for nested ones (validation.loss);
records are matched by their event and step (fine-tuning logs: step, epoch, eval and final
events). --weights takes two .safetensors files or two directories (every .safetensors in them
but the training state). Prints the largest differences found and exits 1 when one is over its
tolerance (0 = identical bits required). Records present in only one log are ignored; at least
one must be shared."""
import argparse
import array
import json
import os
import struct
import sys


def figure(rec, key):
    for part in key.split("."):
        if not isinstance(rec, dict) or part not in rec:
            return None
        rec = rec[part]
    return rec if isinstance(rec, (int, float)) else None


def losses(path, from_step, keys):
    out = {}
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            step = rec.get("step", 1 << 62)
            if step < from_step:
                continue
            for key in keys:
                v = figure(rec, key)
                if v is not None:
                    out[(rec.get("event", ""), step, key)] = float(v)
    return out


def weight_files(path):
    if not os.path.isdir(path):
        return {os.path.basename(path): path}
    return {f: os.path.join(path, f) for f in sorted(os.listdir(path))
            if f.endswith(".safetensors") and f != "training_state.safetensors"}


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
    p.add_argument("--key", action="append")
    a = p.parse_args()
    keys = a.key or ["loss"]
    la, lb = losses(a.log_a, a.from_step, keys), losses(a.log_b, a.from_step, keys)
    common = sorted(set(la) & set(lb), key=lambda k: (k[1], k[0], k[2]))
    if not common:
        print(f"{a.label}: no step in common", file=sys.stderr)
        return 1
    worst = max(abs(la[k] - lb[k]) / max(abs(la[k]), 1e-30) for k in common)
    ok = worst <= a.loss_rtol
    steps = sorted({k[1] for k in common if k[1] != 1 << 62}) or [0]
    msg = (f"{a.label}: {len(common)} figures ({', '.join(keys)}), steps {steps[0]}..{steps[-1]}:"
           f" largest relative difference {worst:.3g} (tolerance {a.loss_rtol:g})")
    if a.weights:
        fa, fb = weight_files(a.weights[0]), weight_files(a.weights[1])
        if sorted(fa) != sorted(fb) or not fa:
            print(f"{a.label}: the two runs saved different weight files", file=sys.stderr)
            return 1
        wa, wb = {}, {}
        for f in fa:
            wa.update({f + ":" + k: v for k, v in tensors(fa[f]).items()})
            wb.update({f + ":" + k: v for k, v in tensors(fb[f]).items()})
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
