"""The table of benchmarks/peers/gpt_peers.sh: argv[1] its results ("threads case impl precision
round json" lines), argv[2] its machine_peak lines ("threads json"). Medians over rounds."""
import json
import statistics
import sys

L, C, NP = 12, 768, 124439808
N = NP - 1024 * C  # flops count the matrices (tied head included), not the position table
MP = L * 12 * C * C + 50257 * C  # matrix weights read per decoded token (LM head included)
LABEL = {"train64": "train B=4 T=64", "train256": "train B=4 T=256", "fwd256": "forward B=4 T=256",
         "gen": "decode B=1"}

rows = {}
for line in open(sys.argv[1]):
    th, case, impl, prec, rnd, js = line.split(" ", 5)
    rows.setdefault((int(th), case, impl, prec), []).append(json.loads(js)["tokens_per_s"])
peaks = {}
for line in open(sys.argv[2]):
    th, js = line.split(" ", 1)
    peaks.setdefault(int(th), []).append(json.loads(js))


def tps(th, case, impl, prec):
    v = rows.get((th, case, impl, prec))
    return statistics.median(v) if v else None


def limit_pct(th, case, impl, prec, t):
    p = peaks[th]
    if case == "gen":
        stored = (2 * MP + 4 * (NP - MP)) if (impl == "fuselm" and prec == "bf16") else 4 * NP
        bound = max(x["read_gbs"] for x in p) * 1e9 / stored
        return f"{100 * t / bound:.0f}% bw"
    ctx = 64 if case == "train64" else 256
    flops = (6 * N + 6 * L * ctx * C) / (3 if case == "fwd256" else 1)
    peak = max(x["fp32_peak_gflops"] for x in p) * (2 if prec == "bf16" else 1)
    return f"{100 * t * flops / 1e9 / peak:.0f}% pk"


for th in sorted(peaks):
    p = peaks[th]
    print(f"{th} thread(s): fp32 FMA peak {max(x['fp32_peak_gflops'] for x in p):.1f} GFLOP/s"
          f" [{min(x['fp32_peak_gflops'] for x in p):.1f} min], read {max(x['read_gbs'] for x in p):.1f}"
          f" GB/s [{min(x['read_gbs'] for x in p):.1f} min] ({len(p)} probes, {p[0]['fma_isa']})")
print("tokens/s (median over rounds) and % of the limit (pk: fp32 peak, bf16 variants 2x it;"
      " bw: read-bandwidth bound for the weights as stored)")
head = f"{'case':<18} {'thr':>3} {'fuselm fp32':>17} {'torch fp32':>17} {'fuselm bf16':>17}" \
       f" {'torch bf16':>17} {'f/t fp32':>8} {'f/t bf16':>8} {'f bf16/fp32':>11}"
print(head)
cases = [c for c in LABEL if any(k[1] == c for k in rows)]
for case in cases:
    for th in sorted(peaks):
        cells, vals = [], {}
        for impl, prec in (("fuselm", "fp32"), ("pytorch", "fp32"), ("fuselm", "bf16"),
                           ("pytorch", "bf16")):
            t = tps(th, case, impl, prec)
            vals[(impl, prec)] = t
            cells.append(f"{t:8.1f} {limit_pct(th, case, impl, prec, t):>8}" if t else f"{'-':>17}")

        def ratio(a, b):
            return f"{a / b:.2f}" if a and b else "-"
        print(f"{LABEL[case]:<18} {th:>3} {' '.join(cells)}"
              f" {ratio(vals[('fuselm', 'fp32')], vals[('pytorch', 'fp32')]):>8}"
              f" {ratio(vals[('fuselm', 'bf16')], vals[('pytorch', 'bf16')]):>8}"
              f" {ratio(vals[('fuselm', 'bf16')], vals[('fuselm', 'fp32')]):>11}")
if 1 in peaks and 2 in peaks:
    print("1->2 thread efficiency (tokens/s at 2 / (2 x at 1)):")
    for case in cases:
        eff = []
        for impl, prec in (("fuselm", "fp32"), ("pytorch", "fp32"), ("fuselm", "bf16"),
                           ("pytorch", "bf16")):
            a, b = tps(1, case, impl, prec), tps(2, case, impl, prec)
            eff.append(f"{impl} {prec} {100 * b / (2 * a):.0f}%" if a and b else f"{impl} {prec} -")
        print(f"  {LABEL[case]:<18} " + ", ".join(eff))
