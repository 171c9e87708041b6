#!/usr/bin/env bash
# fuselm vs PyTorch CPU on BERT sentence embeddings, side by side in one run, and the ratios.
#
# Work per batch (fp32, random weights, same config, same thread count, OMP_WAIT_POLICY=PASSIVE for
# both): the BERT encoder forward with the padding mask on B sentences of T tokens, then mean
# pooling over the non-padding tokens. fuselm runs `fuselm bench embed` (SentenceEmbedder.embedIds,
# timed inside the JVM); PyTorch runs bert_torch_bench.py beside this script (the plain-PyTorch BERT
# of benchmarks/parity/bert_parity.py, torch.no_grad, Debian's python3-torch via /usr/bin/python3).
# Each case runs ROUNDS times per implementation, alternating (fuselm first in odd rounds, PyTorch
# first in even ones); each run prints the median of its own timed batches after one warm-up.
# ratio = fuselm sentences/s / PyTorch sentences/s (> 1: fuselm is faster), the median of the
# per-round ratios (each pair ran back to back) with their range; cpu ratio = PyTorch CPU time /
# fuselm CPU time for one batch (all threads; on a shared machine it moves much less than wall
# time). RSS: peak resident memory of the process (/usr/bin/time; the JVM's includes its heap).
#
# Usage: benchmarks/bert/compare_pytorch.sh                  (2 threads, 3 rounds, B=32 T=128)
#        ROUNDS=5 THREADS=2 CASES="32x128 8x128" CONFIG=bert-base-uncased benchmarks/bert/compare_pytorch.sh
# Needs: python3-torch (apt-get install -y python3-torch) and the fuselm build (bin/fuselm builds
# it on first use).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/benchmarks/bert"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
CONFIG="${CONFIG:-bert-base-uncased}"
CASES="${CASES:-32x128}"
STEPS="${STEPS:-2}"
PY=/usr/bin/python3
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$THREADS"

if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "PyTorch not found for $PY: apt-get install -y python3-torch" >&2
  exit 1
fi
WORK="$(mktemp -d /tmp/fuselm-bert-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# build once through the launcher, then call the JVM directly so a rebuild never lands in a timing
"$ROOT/bin/fuselm" bench embed --help >/dev/null
FUSELM=(java ${FUSELM_JAVA_OPTS:-} -cp "$ROOT/target/classes:$(cat "$ROOT/target/classpath.txt")"
        dev.fuselm.cli.Main bench embed)
TORCH=("$PY" "$HERE/bert_torch_bench.py")

run_one() {  # impl case round -> appends "case impl round rss_kb json" to $WORK/results
  local impl="$1" c="$2" round="$3" b="${2%x*}" t="${2#*x}" cmd json
  if [ "$impl" = fuselm ]; then cmd=("${FUSELM[@]}"); else cmd=("${TORCH[@]}"); fi
  cmd+=(--config "$CONFIG" --batch "$b" --seq "$t" --steps "$STEPS" --threads "$THREADS")
  json="$(/usr/bin/time -f '%M' -o "$WORK/rss" "${cmd[@]}" 2>"$WORK/stderr" | grep '^{' | tail -1)" || {
    echo "failed: ${cmd[*]}" >&2; cat "$WORK/stderr" >&2; exit 1; }
  echo "$c $impl $round $(cat "$WORK/rss") $json" >>"$WORK/results"
  printf '  round %d %-7s %-7s %s\n' "$round" "$c" "$impl" "$json" >&2
}

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg); threads $THREADS; rounds $ROUNDS; config $CONFIG"
echo "pytorch: $("$PY" -c 'import torch; print(torch.__version__)'); java: $(java -version 2>&1 | head -1)"
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
echo "cases took $(( $(date +%s) - start )) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" - "$WORK/results" <<'PYEOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    c, impl, rnd, rss, js = line.split(" ", 4)
    rows.setdefault((c, impl), {})[int(rnd)] = (json.loads(js), int(rss))
print("sentences/s are medians over rounds; ratio = fuselm/PyTorch sentences/s (wall time), median of"
      " the per-round ratios [min-max]; cpu ratio = PyTorch/fuselm CPU time for the same batch")
print(f"{'case':<16} {'fuselm sent/s':>13} {'PyTorch sent/s':>14} {'ratio':>6} {'[range]':>11}"
      f" {'cpu ratio':>9} {'fuselm ms':>9} {'PyTorch ms':>10} {'fuselm RSS':>10} {'PyTorch RSS':>11}")
for c in sorted({k[0] for k in rows}, key=lambda s: [int(x) for x in s.split("x")], reverse=True):
    f, p = rows.get((c, "fuselm")), rows.get((c, "pytorch"))
    if not f or not p:
        continue
    rounds = sorted(set(f) & set(p))
    ratios = [f[r][0]["sentences_per_s"] / p[r][0]["sentences_per_s"] for r in rounds]
    cpu = [p[r][0]["cpu_ms_per_batch"] / f[r][0]["cpu_ms_per_batch"] for r in rounds
           if f[r][0]["cpu_ms_per_batch"] > 0]
    med = {}
    for impl, rs in (("fuselm", f), ("pytorch", p)):
        med[impl] = (statistics.median(v[0]["sentences_per_s"] for v in rs.values()),
                     statistics.median(v[0]["ms_per_batch"] for v in rs.values()),
                     statistics.median(v[1] for v in rs.values()) / 1024)
    fm, pm = med["fuselm"], med["pytorch"]
    b, t = c.split("x")
    print(f"{'B=' + b + ' T=' + t:<16} {fm[0]:>13.2f} {pm[0]:>14.2f} {statistics.median(ratios):>6.2f}"
          f" {'[%.2f-%.2f]' % (min(ratios), max(ratios)):>11} {statistics.median(cpu) if cpu else 0:>9.2f}"
          f" {fm[1]:>9.0f} {pm[1]:>10.0f} {fm[2]:>8.0f}MB {pm[2]:>9.0f}MB")
PYEOF
