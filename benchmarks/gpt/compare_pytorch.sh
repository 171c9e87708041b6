#!/usr/bin/env bash
# fuselm vs PyTorch CPU on GPT-2 124M, side by side in one run, and the ratios.
#
# Cases (fp32, same config, same thread count, OMP_WAIT_POLICY=PASSIVE for both):
#   train B=4 T=64      forward + backward + AdamW (clip 1.0)       ms/step -> tokens/s
#   train B=4 T=256     the same
#   forward B=4 T=256   inference forward, logits of all positions  tokens/s
#   generate B=1        greedy, 16-token prompt, KV cache            decode tokens/s
#   gen16               the same with fuselm on bf16 weights (--weights bf16; PyTorch stays fp32):
#                       bound = read bandwidth / bytes of the weights as stored (bf16 matrices)
#   train64bf16         train B=4 T=64 with fuselm in bf16 mixed precision (--precision bf16: bf16
#                       GEMM inputs, fp32 accumulation and master weights; PyTorch stays fp32)
# fuselm runs `fuselm bench train|generate` (its JSON, timed inside the JVM); PyTorch runs
# gpt2_torch_bench.py beside this script (a plain-PyTorch GPT-2, Debian's python3-torch, run with
# /usr/bin/python3). Each case is run ROUNDS times per implementation, alternating (fuselm first in
# odd rounds, PyTorch first in even ones); each run prints the median of its own timed steps, and
# the table shows the median over rounds. ratio = fuselm tokens/s / PyTorch tokens/s (> 1: fuselm
# is faster), the median of the per-round ratios (each pair ran back to back, so the machine's
# changing load cancels best there), with their range. RSS is the peak resident memory of the
# process (/usr/bin/time; the JVM's includes its heap), median over rounds. "cpu ratio" compares
# the CPU time (all threads) each process spent on the timed steps, PyTorch's over fuselm's (> 1:
# fuselm does the work with less CPU); on a shared machine it moves much less than wall time.
#
# The machine's fp32 peak (an FMA loop) and memory bandwidth (read and copy) come from
# machine_peak.c, run before and after the cases (best of both), for utilisation: GFLOP/s of a
# training step = 6 N + 6 L T C flops per token over ms/step (forward: a third), and for generation
# the bound read_bandwidth / fp32 weight bytes (tokens/s if every weight is read once per token).
# Because the read bandwidth of this shared machine moves by tens of percent from minute to minute,
# machine_peak also runs right after each fuselm generation run, and a last line per generation case
# gives the median over runs of tokens/s against the bound from that adjacent measurement.
#
# Usage: benchmarks/gpt/compare_pytorch.sh                 (2 threads, 3 rounds, a few minutes)
#        ROUNDS=5 THREADS=2 CASES="train64 gen" benchmarks/gpt/compare_pytorch.sh
# Needs: python3-torch (apt-get install -y python3-torch), a C compiler, and the fuselm build
# (bin/fuselm builds it on first use).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/benchmarks/gpt"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
CONFIG="${CONFIG:-gpt2}"
CASES="${CASES:-train64 train256 fwd256 gen}"
PY=/usr/bin/python3
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$THREADS"

if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "PyTorch not found for $PY: apt-get install -y python3-torch" >&2
  exit 1
fi
WORK="$(mktemp -d /tmp/fuselm-gpt-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cc -O2 -pthread -o "$WORK/machine_peak" "$HERE/machine_peak.c"

# build once through the launcher, then call the JVM directly so a rebuild never lands in a timing
"$ROOT/bin/fuselm" bench train --help >/dev/null
FUSELM=(java ${FUSELM_JAVA_OPTS:-} -cp "$ROOT/target/classes:$(cat "$ROOT/target/classpath.txt")"
        dev.fuselm.cli.Main bench)
TORCH=("$PY" "$HERE/gpt2_torch_bench.py")

args() {  # case -> "mode batch ctx steps [runs]"
  case "$1" in
    train64)  echo "train 4 64 2" ;;      # after one untimed warm-up step
    train256) echo "train 4 256 1" ;;
    fwd256)   echo "forward 4 256 2" ;;
    gen)      echo "generate 1 16 16 2" ;;  # 16-token prompt, 16 new tokens, 2 timed runs
    gen16)    echo "generate 1 16 16 2" ;;  # the same, fuselm with bf16 weights
    train64bf16) echo "train 4 64 2" ;;     # train64, fuselm in bf16 mixed precision
    *) echo "unknown case $1" >&2; exit 2 ;;
  esac
}

run_one() {  # impl case round -> appends "case impl round rss_kb json" to $WORK/results
  local impl="$1" c="$2" round="$3" mode b t s r cmd
  read -r mode b t s r <<<"$(args "$c")"
  if [ "$impl" = fuselm ]; then
    case "$mode" in
      train)    cmd=("${FUSELM[@]}" train --config "$CONFIG" --batch "$b" --ctx "$t" --steps "$s") ;;
      forward)  cmd=("${FUSELM[@]}" train --forward --config "$CONFIG" --batch "$b" --ctx "$t" --steps "$s") ;;
      generate) cmd=("${FUSELM[@]}" generate --config "$CONFIG" --batch "$b" --ctx "$t" --steps "$s" --runs "$r") ;;
    esac
    [ "$c" = gen16 ] && cmd+=(--weights bf16)
    [ "$c" = train64bf16 ] && cmd+=(--precision bf16)
  else
    cmd=("${TORCH[@]}" "$mode" --config "$CONFIG" --batch "$b" --ctx "$t" --steps "$s" --runs "${r:-3}")
  fi
  cmd+=(--threads "$THREADS")
  local json
  json="$(/usr/bin/time -f '%M' -o "$WORK/rss" "${cmd[@]}" 2>"$WORK/stderr" | grep '^{' | tail -1)" || {
    echo "failed: ${cmd[*]}" >&2; cat "$WORK/stderr" >&2; exit 1; }
  echo "$c $impl $round $(cat "$WORK/rss") $json" >>"$WORK/results"
  printf '  round %d %-8s %-7s %s\n' "$round" "$c" "$impl" "$json" >&2
  if [ "$impl" = fuselm ] && [ "$mode" = generate ]; then
    # the read bandwidth right after this run: the machine's bandwidth moves by tens of percent from
    # one minute to the next, so each run is also compared with a bound measured beside it
    echo "$c $round $("$WORK/machine_peak" --threads "$THREADS" --reps 1)" >>"$WORK/adjacent"
  fi
}

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg); threads $THREADS; rounds $ROUNDS; config $CONFIG"
echo "pytorch: $("$PY" -c 'import torch; print(torch.__version__)'); java: $(java -version 2>&1 | head -1)"
"$WORK/machine_peak" --threads "$THREADS" --reps 3 >"$WORK/peak1"
start=$(date +%s)
for round in $(seq 1 "$ROUNDS"); do
  for c in $CASES; do
    if [ $((round % 2)) = 1 ]; then
      run_one fuselm "$c" "$round"; run_one pytorch "$c" "$round"
    else
      run_one pytorch "$c" "$round"; run_one fuselm "$c" "$round"
    fi
  done
done
"$WORK/machine_peak" --threads "$THREADS" --reps 3 >"$WORK/peak2"
echo "cases took $(( $(date +%s) - start )) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"

touch "$WORK/adjacent"
"$PY" - "$WORK/results" "$WORK/peak1" "$WORK/peak2" "$WORK/adjacent" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    c, impl, rnd, rss, js = line.split(" ", 4)
    rows.setdefault((c, impl), {})[int(rnd)] = (json.loads(js), int(rss))
peaks = [json.loads(open(p).read()) for p in sys.argv[2:4]]
peak = max(p["fp32_peak_gflops"] for p in peaks)
read = max(p["read_gbs"] for p in peaks)
copy = max(p["copy_gbs"] for p in peaks)
print(f"machine ({peaks[0]['threads']} threads, {peaks[0]['fma_isa']} FMA loop): fp32 peak {peak:.1f} GFLOP/s,"
      f" read {read:.1f} GB/s, copy {copy:.1f} GB/s (best of the runs before and after the cases)")
L, C, NP = 12, 768, 124439808
N = NP - 1024 * C  # flops count the matrices (tied head included), not the position table
MP = L * 12 * C * C + 50257 * C  # the matrices multiplied per decoded token (the LM head included)
label = {"train64": "train step B=4 T=64", "train256": "train step B=4 T=256",
         "fwd256": "forward B=4 T=256", "gen": "generate B=1 (KV cache)",
         "gen16": "generate B=1 bf16 weights", "train64bf16": "train B=4 T=64 fuselm bf16"}
print("tokens/s are medians over rounds; ratio = fuselm/PyTorch tokens/s (wall time), median of the"
      " per-round ratios [min-max]; cpu ratio = PyTorch/fuselm CPU time for the same work")
print(f"{'case':<24} {'fuselm tok/s':>12} {'PyTorch tok/s':>13} {'ratio':>6} {'[range]':>11}"
      f" {'cpu ratio':>9} {'fuselm ms':>9} {'PyTorch ms':>10} {'fuselm':>9} {'PyTorch':>9}"
      f" {'fuselm RSS':>10} {'PyTorch RSS':>11}")
gen_cases = ("gen", "gen16")
for c in ["train64", "train256", "fwd256", "gen", "gen16", "train64bf16"]:
    if (c, "fuselm") not in rows or (c, "pytorch") not in rows:
        continue
    f, p = rows[(c, "fuselm")], rows[(c, "pytorch")]
    rounds = sorted(set(f) & set(p))
    ratios = [f[r][0]["tokens_per_s"] / p[r][0]["tokens_per_s"] for r in rounds]
    key = "cpu_ms_per_token" if c in gen_cases else "cpu_ms_per_step"
    cpu = [p[r][0][key] / f[r][0][key] for r in rounds if f[r][0].get(key, 0) > 0]
    cpu_ratio = f"{statistics.median(cpu):.2f}" if cpu else "-"
    med = {}
    for impl, rs in (("fuselm", f), ("pytorch", p)):
        tps = statistics.median(v[0]["tokens_per_s"] for v in rs.values())
        rss = statistics.median(v[1] for v in rs.values()) / 1024
        j = next(iter(rs.values()))[0]
        tokens = j["batch"] * (j["ctx"] if c not in gen_cases else 1)
        if c in gen_cases:
            # every weight read once per token as stored: fuselm gen16 holds the matrices in bf16
            per_matrix_weight = 2 if (c == "gen16" and impl == "fuselm") else 4
            stored = per_matrix_weight * MP + 4 * (NP - MP)
            util = f"{100 * tps / (read * 1e9 / stored):.0f}% bw"
        else:
            t = j["ctx"]
            flops = (6 * N + 6 * L * t * C) if c != "fwd256" else (2 * N + 2 * L * t * C)
            util = f"{100 * tps * flops / 1e9 / peak:.0f}% pk"
        med[impl] = (tps, rss, 1e3 * tokens / tps, util)
    fm, pm = med["fuselm"], med["pytorch"]
    rng = f"[{min(ratios):.2f}-{max(ratios):.2f}]"
    print(f"{label[c]:<24} {fm[0]:>12.1f} {pm[0]:>13.1f} {statistics.median(ratios):>6.2f} {rng:>11}"
          f" {cpu_ratio:>9} {fm[2]:>9.0f} {pm[2]:>10.0f} {fm[3]:>9} {pm[3]:>9} {fm[1]:>8.0f}MB {pm[1]:>9.0f}MB")
if ("gen", "fuselm") in rows and ("gen16", "fuselm") in rows:
    f32, f16 = rows[("gen", "fuselm")], rows[("gen16", "fuselm")]
    both = sorted(set(f32) & set(f16))
    r16 = [f16[r][0]["tokens_per_s"] / f32[r][0]["tokens_per_s"] for r in both]
    print(f"fuselm bf16 / fp32 weights, decode tokens/s: {statistics.median(r16):.2f}"
          f" [{min(r16):.2f}-{max(r16):.2f}] (median of per-round ratios); bf16 bound"
          f" {read * 1e9 / (2 * MP + 4 * (NP - MP)):.1f} tokens/s")
adjacent = {}
for line in open(sys.argv[4]):
    c, rnd, js = line.split(" ", 2)
    adjacent[(c, int(rnd))] = json.loads(js)["read_gbs"]
for c in gen_cases:
    if (c, "fuselm") not in rows:
        continue
    stored = (2 if c == "gen16" else 4) * MP + 4 * (NP - MP)
    pct = [100 * v[0]["tokens_per_s"] / (adjacent[(c, r)] * 1e9 / stored)
           for r, v in sorted(rows[(c, "fuselm")].items()) if (c, r) in adjacent]
    if pct:
        print(f"{label[c]}: % of the bound from the read bandwidth measured right after each fuselm run:"
              f" median {statistics.median(pct):.0f}% [{min(pct):.0f}-{max(pct):.0f}%] over {len(pct)} runs")
if ("train64", "fuselm") in rows and ("train64bf16", "fuselm") in rows:
    f32, f16 = rows[("train64", "fuselm")], rows[("train64bf16", "fuselm")]
    both = sorted(set(f32) & set(f16))
    r16 = [f16[r][0]["tokens_per_s"] / f32[r][0]["tokens_per_s"] for r in both]
    print(f"fuselm bf16 / fp32 training, train B=4 T=64 tokens/s: {statistics.median(r16):.2f}"
          f" [{min(r16):.2f}-{max(r16):.2f}] (median of per-round ratios)")
print(f"ms: per step (train, forward) or per token (generate). % pk: GFLOP/s (6N + 6LTC flops per"
      f" token for a training step, a third of that forward) over the fp32 peak; % bw: tokens/s over"
      f" the bandwidth bound read / fp32 weights = {read * 1e9 / (4 * NP):.1f} tokens/s. RSS: peak"
      f" resident memory of the process (median over rounds).")
EOF
