#!/usr/bin/env bash
# Serving throughput (issue 18), one command: time to the first token for prompts that repeat a
# 512-token prefix, with the session's prefix cache off and on (bench prefix-cache), and generated
# tokens/s and requests/s at 1, 4 and 16 concurrent clients (bench serve; prompts of one round are
# prefilled together), on two models:
#   gpt2   GPT-2 124M's shape with random weights (speed does not depend on the values)
#   small  a small GPT (GPT-2 vocabulary, 4 layers, n_embd 128, 576 positions) trained here for
#          SMALL_STEPS steps on shared/data/the-verdict.txt (made once under $WORK, then reused)
# The machine's fp32 peak and memory bandwidth (benchmarks/gpt/machine_peak.c) and `uptime` are
# printed beside the figures: on a shared machine every figure moves with the others' load.
#   benchmarks/serve/throughput.sh                 # both models
#   MODELS=small REQUESTS=2 benchmarks/serve/throughput.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-target/bench-serve}
DATA=${DATA:-../shared/data/the-verdict.txt}
mkdir -p "$WORK"
cc -O2 -pthread -o "$WORK/machine_peak" benchmarks/gpt/machine_peak.c
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
echo "# machine_peak: $("$WORK/machine_peak" --reps 1)"
if [[ " ${MODELS:-gpt2 small} " == *" small "* && ! -f "$WORK/small/model.safetensors" ]]; then
  cat > "$WORK/small.json" <<'JSON'
{"vocab_size": 50257, "n_positions": 576, "n_embd": 128, "n_layer": 4, "n_head": 4}
JSON
  bin/fuselm train --config "$WORK/small.json" --data "$DATA" --out "$WORK/small" \
    --steps "${SMALL_STEPS:-40}" --batch 2 --ctx 576 --stride 64 --quiet
fi
for m in ${MODELS:-gpt2 small}; do
  if [ "$m" = small ]; then model=(--model "$WORK/small"); else model=(--config "$m"); fi
  echo "# $m, uptime: $(uptime)"
  bin/fuselm bench prefix-cache "${model[@]}" --prefix-tokens 512 --suffix-tokens 16 \
    --new-tokens 4 --requests "${REQUESTS:-3}" --rounds "${ROUNDS:-2}"
  echo "# $m, uptime: $(uptime)"
  bin/fuselm bench serve "${model[@]}" --clients 1,4,16 --requests "${SERVE_REQUESTS:-2}" \
    --rounds 1 --prompt-tokens 64 --new-tokens 16 --slots 16
  echo "# $m, uptime: $(uptime)"
done
"$WORK/machine_peak" --reps 1 | sed 's/^/# machine_peak after: /'
