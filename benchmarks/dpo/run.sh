#!/usr/bin/env bash
# The README's "Preference tuning (DPO)" figures, end to end on ../shared/data (no external model):
#   1. pretrain a small GPT (2,048-token BPE, 2 layers, d_model 128, context 256) on
#      tokenizer-corpus.txt + the-verdict.txt
#   2. instruction-tune it on instruction-data.json (finetune-instruct, 2 epochs)
#   3. make preference pairs: chosen = the dataset's response, rejected = the instruction-tuned
#      model's own sampled response (fuselm dpo-pairs, seeded: the file is reproducible)
#   4. DPO (finetune-dpo, full fine-tune and LoRA): reward accuracy and margins on the held-out test
#      pairs before and after, and greedy responses before/after in OUT/test-responses.json
# Usage: benchmarks/dpo/run.sh [WORKDIR]   (default target/dpo-run; about 35 minutes on the shared
# 2-core machine: pretraining 9, instruction tuning 4, pairs 2, each DPO run about 4)
set -euo pipefail
cd "$(dirname "$0")/../.."
w="${1:-target/dpo-run}"
data=../shared/data
mkdir -p "$w"
f="${FUSELM:-bin/fuselm}"  # FUSELM: another launcher (a snapshot of the build, say)
[ -f "$w/corpus.txt" ] || cat "$data/tokenizer-corpus.txt" "$data/the-verdict.txt" > "$w/corpus.txt"
[ -d "$w/base" ] || $f demo --text "$w/corpus.txt" --vocab-size 2048 --layers 2 --d-model 128 \
    --heads 4 --ctx 256 --batch 8 --lr 1e-3 --steps 400 --out "$w/base" --prompt "The" --threads 2
cp "$data/instruction-data.json" "$w/instruction-data.json"
[ -d "$w/instruct" ] || $f finetune-instruct --init "$w/base" --data "$w/instruction-data.json" \
    --out "$w/instruct" --epochs 2 --batch 8 --lr 5e-4 --max-new-tokens 48 --quiet --threads 2
[ -f "$w/pairs.json" ] || $f dpo-pairs --model "$w/instruct" --data "$data/instruction-data.json" \
    --out "$w/pairs.json" --temperature 1.0 --top-k 50 --max-new-tokens 48 --seed 123 --threads 2
# full fine-tune at the book's rate (5e-6) and at 10x; LoRA rank 16 at 5e-4 and 5e-5
dpo() { out="$1"; shift; [ -d "$w/$out" ] || $f finetune-dpo --init "$w/instruct" \
    --data "$w/pairs.json" --out "$w/$out" --epochs 1 --batch 8 --beta 0.1 --responses 5 --quiet \
    --threads 2 "$@"; }
dpo dpo-full-lr5e-6 --lr 5e-6
dpo dpo-full --lr 5e-5
dpo dpo-lora --lora 16 --merge --lr 5e-4
dpo dpo-lora-lr5e-5 --lora 16 --merge --lr 5e-5
for d in dpo-full-lr5e-6 dpo-full dpo-lora dpo-lora-lr5e-5; do
  echo "$d"; grep -h '"event":"\(before\|final\)"' "$w/$d/log.jsonl"
done
