#!/usr/bin/env bash
# Load benchmark of the embedding API (InferenceSession, in-process): generated tokens per second
# and request latency p50/p99 at 1, 4 and 16 concurrent clients (closed loop: each client sends
# its next request when the previous one is answered), for the demo model's shape and for GPT-2
# 124M, both with random weights (speed does not depend on the values; no pretrained weights
# here). Greedy decoding, 16-token prompts, 32 new tokens per request, 16 session slots. Each
# client count runs ROUNDS rounds that alternate the peer (requests one after another on a batch-1
# Generator, same process) and the session; vs_generator is the median of the per-round ratios.
#   benchmarks/serve/run.sh            # both models
#   MODELS=demo benchmarks/serve/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
for m in ${MODELS:-demo gpt2}; do
  if [ "$m" = demo ]; then requests=${DEMO_REQUESTS:-64}; rounds=${DEMO_ROUNDS:-3}
  else requests=${GPT2_REQUESTS:-2}; rounds=${GPT2_ROUNDS:-2}; fi
  bin/fuselm bench serve --config "$m" --clients 1,4,16 --requests "$requests" \
    --rounds "$rounds" --prompt-tokens 16 --new-tokens 32 --slots 16
done
