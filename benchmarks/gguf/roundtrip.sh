#!/usr/bin/env bash
# GGUF round trip on a small GPT-2 shaped model (GPT-2's vocabulary, 2 layers, d_model 128): trains
# it 20 steps, exports it as F32/F16/BF16/Q8_0 GGUF, imports two back, then generates (greedy ids) and
# evaluates from the directory and from each .gguf file. Prints times, sizes, ids and losses.
#
#   benchmarks/gguf/roundtrip.sh [WORK_DIR]      (default: a temporary directory, removed after)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
F="$root/bin/fuselm"
work="${1:-$(mktemp -d)}"
[ $# -ge 1 ] || trap 'rm -rf "$work"' EXIT
cd "$work"
cat > config.json <<'JSON'
{"vocab_size": 50257, "n_positions": 128, "n_embd": 128, "n_layer": 2, "n_head": 4}
JSON
data="$root/../shared/data/the-verdict.txt"
uptime
$F train --config config.json --data "$data" --out model --steps 20 --batch 2 --ctx 64 --quiet
for t in f32 f16 bf16 q8_0; do
  /usr/bin/time -f "export $t %e s" $F export gguf model --out model-$t.gguf --type $t
done
ls -l model/model.safetensors model-*.gguf
for t in f32 q8_0; do
  /usr/bin/time -f "import $t %e s" $F import gguf model-$t.gguf --out back-$t
done
for m in model model-f32.gguf model-f16.gguf model-q8_0.gguf; do
  echo "$m: $($F generate --model $m --prompt 'I had always thought' --max-new-tokens 16 \
    --temperature 0 --ids --no-stop)"
done
for m in model model-f32.gguf model-f16.gguf model-bf16.gguf model-q8_0.gguf; do
  echo "$m: $($F eval --model $m --data "$data" --ctx 64)"
done
uptime
