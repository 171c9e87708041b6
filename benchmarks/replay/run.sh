#!/usr/bin/env bash
# Replay: a fixed set of fuselm runs (GPT train + exact resume, bf16 train, MLM+NSP train, GPT and
# BERT classification, LoRA, instruction tuning full and LoRA, greedy and sampled generation with
# fp32 and bf16 weights, batched InferenceSession through `fuselm serve`, embeddings, eval, NER
# (BERT, GPT + LoRA) and DPO (full, LoRA) fine-tuning), each
# reduced to a SHA-256 of its deterministic outputs: losses and metrics (timings dropped), saved
# weights and generated ids. Prints "name digest" lines to stdout.
#
# Bits depend on the ISA level and thread count, so every run is capped at FUSELM_ISA=avx2 (every
# machine of this kind has AVX2) with --threads 2: the digests are then the same on every machine.
# Used by record.sh (writes expected.txt) and check.sh (compares against it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
data="$root/../shared/data"
fuselm="$root/bin/fuselm"
export FUSELM_ISA=avx2
T="--threads 2"
work="$(mktemp -d)"
server_pid=""
# REPLAY_KEEP=DIR keeps the raw outputs there (to see what moved when a digest differs)
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  if [ -n "${REPLAY_KEEP:-}" ]; then rm -rf "$REPLAY_KEEP"; cp -r "$work" "$REPLAY_KEEP"; fi
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# JSON lines without their timing fields, the run's temporary directory named WORK
metrics() {
  sed "s#$work#WORK#g" | python3 -c '
import json, sys
drop = {"tokens_per_s", "ms", "seconds", "elapsed_s", "elapsed_ms", "tok_per_s", "time_s", "wall_s",
        "examples_per_s", "ms_per_step", "eta_s"}
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    obj = json.loads(line)
    if isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if k not in drop and not k.endswith("_ms") and not k.endswith("_per_s")}
    print(json.dumps(obj, sort_keys=True))
'
}
digest() { sha256sum | cut -c1-16; }
emit() { echo "$1 $2"; }
weights() { cat "$@" | digest; }

cfg='{"vocab_size": 50257, "n_positions": 64, "n_embd": 32, "n_layer": 2, "n_head": 2}'
echo "$cfg" > gpt.json

# 1. GPT pretraining, uninterrupted and with a resume at step 3
"$fuselm" train --config gpt.json --data "$data/the-verdict.txt" --out gpt --steps 6 --batch 2 \
  --ctx 32 --eval-every 3 --warmup 2 $T 2>/dev/null > gpt.log
emit train.losses "$(metrics < gpt.log | digest)"
emit train.weights "$(weights gpt/model.safetensors gpt/training_state.safetensors)"
"$fuselm" train --config gpt.json --data "$data/the-verdict.txt" --out half --steps 3 --batch 2 \
  --ctx 32 --eval-every 3 --warmup 2 $T 2>/dev/null > half.log
"$fuselm" train --data "$data/the-verdict.txt" --resume half --out resumed --steps 6 --batch 2 \
  --ctx 32 --eval-every 3 --warmup 2 $T 2>/dev/null > resumed.log
emit resume.losses "$(cat half.log resumed.log | metrics | digest)"
emit resume.weights "$(weights resumed/model.safetensors resumed/training_state.safetensors)"

# 2. bf16 mixed precision
"$fuselm" train --config gpt.json --data "$data/the-verdict.txt" --out bf16 --steps 4 --batch 2 \
  --ctx 32 --precision bf16 $T 2>/dev/null > bf16.log
emit train_bf16.losses "$(metrics < bf16.log | digest)"
emit train_bf16.weights "$(weights bf16/model.safetensors)"

# 3. BERT MLM + NSP
head -n 400 "$data/tokenizer-corpus.txt" > mlm.txt
"$fuselm" train-mlm --config bert-tiny --data mlm.txt --out bert --steps 4 --batch 4 --ctx 32 \
  --nsp --eval-every 2 $T 2>/dev/null > bert.log
emit mlm.losses "$(metrics < bert.log | digest)"
emit mlm.weights "$(weights bert/model.safetensors)"

# 4. classification: GPT (last block), GPT LoRA, BERT; then classify
head -n 160 "$data/sms-spam-collection/SMSSpamCollection" > sms.tsv
"$fuselm" finetune-classify --init gpt --data sms.tsv --text-column 1 --label-column 0 \
  --out cls_gpt --epochs 1 --batch 8 $T 2>/dev/null > cls_gpt.log
emit classify_gpt.metrics "$(metrics < cls_gpt.log | digest)"
emit classify_gpt.weights "$(weights cls_gpt/*.safetensors)"
"$fuselm" finetune-classify --init gpt --data sms.tsv --text-column 1 --label-column 0 \
  --out cls_lora --epochs 1 --batch 8 --lora 2 $T 2>/dev/null > cls_lora.log
emit classify_lora.metrics "$(metrics < cls_lora.log | digest)"
emit classify_lora.weights "$(weights $(find cls_lora -path 'cls_lora/checkpoint-*' -prune -o -name '*.safetensors' -print | sort))"
"$fuselm" finetune-classify --init bert --data sms.tsv --text-column 1 --label-column 0 \
  --out cls_bert --epochs 1 --batch 8 --max-length 32 $T 2>/dev/null > cls_bert.log
emit classify_bert.metrics "$(metrics < cls_bert.log | digest)"
emit classify_bert.weights "$(weights cls_bert/*.safetensors)"
# head first: `cut | head` under pipefail dies of SIGPIPE (exit 141) when head exits before cut's last write
head -n 12 sms.tsv | cut -f2 > texts.txt
emit classify.outputs "$( ("$fuselm" classify --model cls_gpt --input texts.txt $T;
  "$fuselm" classify --model cls_bert --input texts.txt $T) 2>/dev/null | digest)"

# 5. instruction tuning, full and LoRA (responses of the test split included)
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
json.dump(d[:40], open("instr.json", "w"))' "$data/instruction-data.json"
"$fuselm" finetune-instruct --init gpt --data instr.json --out inst --epochs 1 --batch 4 \
  --max-length 64 --max-new-tokens 6 --mask-prompt $T 2>/dev/null > inst.log
emit instruct.metrics "$(metrics < inst.log | digest)"
emit instruct.weights "$(weights inst/model.safetensors)"
emit instruct.responses "$(cat instr-responses.json inst/instr-responses.json 2>/dev/null | digest)"
rm -f instr-responses.json inst/instr-responses.json
"$fuselm" finetune-instruct --init gpt --data instr.json --out inst_lora --epochs 1 --batch 4 \
  --max-length 64 --max-new-tokens 6 --lora 2 $T 2>/dev/null > inst_lora.log
emit instruct_lora.metrics "$(metrics < inst_lora.log | digest)"
emit instruct_lora.weights "$(weights $(find inst_lora -path 'inst_lora/checkpoint-*' -prune -o -name '*.safetensors' -print | sort))"

# 6. generation: greedy and sampled, fp32 and bf16 weights; eval
for w in fp32 bf16; do
  emit "generate_greedy_$w.ids" "$("$fuselm" generate --model gpt --prompt "I had always" \
    --max-new-tokens 12 --temperature 0 --ids --weights $w $T 2>/dev/null | digest)"
  emit "generate_sampled_$w.ids" "$("$fuselm" generate --model gpt --prompt "I had always" \
    --max-new-tokens 12 --temperature 0.9 --top-k 50 --top-p 0.95 --seed 7 --ids --weights $w $T \
    2>/dev/null | digest)"
done
emit eval.loss "$("$fuselm" eval --model gpt --data "$data/the-verdict.txt" --ctx 32 $T 2>/dev/null | digest)"

# 7. batched InferenceSession: six concurrent greedy requests through the server (bf16 weights
# batched in the same slots), each answer must equal the same request alone
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$fuselm" serve --model gpt --port "$port" --slots 4 $T > serve.log 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.5
done
ask() {
  curl -sf "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
    -d "{\"prompt\": \"$1\", \"max_tokens\": $2, \"temperature\": 0}" \
    | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["choices"][0]["text"]))'
}
prompts=("I had always" "The picture" "She said" "It was" "Gisburn" "My dear")
for i in "${!prompts[@]}"; do ask "${prompts[$i]}" $((6 + i)) > "alone_$i.txt"; done
for i in "${!prompts[@]}"; do ask "${prompts[$i]}" $((6 + i)) > "batched_$i.txt" & done
wait_for=$(jobs -p | grep -v "^$server_pid\$" || true)
for p in $wait_for; do wait "$p"; done
for i in "${!prompts[@]}"; do
  cmp -s "alone_$i.txt" "batched_$i.txt" || { echo "replay: batched answer $i differs from alone" >&2; exit 1; }
done
emit serve.texts "$(cat alone_*.txt | digest)"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

# 8. embeddings
head -n 10 "$data/tokenizer-corpus.txt" > emb.txt
emit embed.vectors "$("$fuselm" embed --model bert --input emb.txt --normalize $T 2>/dev/null | digest)"

t9=$SECONDS
# 9. token classification (NER): BERT (the MLM model of 3.) and GPT with LoRA, on the first 60
# sentences of the committed date-NER slice (validation: 20 of its test file)
awk 'BEGIN{RS=""; ORS="\n\n"} NR<=60' "$root/src/test/resources/ner/dates-train.conll" > ner-train.conll
awk 'BEGIN{RS=""; ORS="\n\n"} NR<=20' "$root/src/test/resources/ner/dates-test.conll" > ner-val.conll
"$fuselm" finetune-ner --init bert --train ner-train.conll --val ner-val.conll --out ner_bert \
  --epochs 2 --batch 8 --lr 1e-3 --max-length 32 $T 2>/dev/null > ner_bert.log
emit ner_bert.metrics "$(metrics < ner_bert.log | digest)"
emit ner_bert.weights "$(weights $(find ner_bert -path 'ner_bert/checkpoint-*' -prune -o -name '*.safetensors' -print | sort))"
"$fuselm" finetune-ner --init gpt --train ner-train.conll --val ner-val.conll --out ner_lora \
  --epochs 1 --batch 8 --lr 1e-3 --max-length 32 --lora 2 $T 2>/dev/null > ner_lora.log
emit ner_lora.metrics "$(metrics < ner_lora.log | digest)"
emit ner_lora.weights "$(weights $(find ner_lora -path 'ner_lora/checkpoint-*' -prune -o -name '*.safetensors' -print | sort))"

# 10. DPO from the instruction-tuned model of 5., full and LoRA: 16 pairs (chosen: the entry's
# response, rejected: the next entry's), 12 to train in batches of 3
python3 -c '
import json
d = json.load(open("instr.json"))[:16]
json.dump([dict(e, chosen=e["output"], rejected=d[(i + 1) % len(d)]["output"]) for i, e in enumerate(d)],
          open("pairs.json", "w"))'
"$fuselm" finetune-dpo --init inst --data pairs.json --out dpo --epochs 1 --batch 3 --lr 1e-4 \
  --max-length 64 --train-ratio 0.75 --val-ratio 0.125 --responses 2 --max-new-tokens 4 $T \
  2>/dev/null > dpo.log
emit dpo.metrics "$(metrics < dpo.log | digest)"
emit dpo.weights "$(weights $(find dpo -path 'dpo/checkpoint-*' -prune -o -name '*.safetensors' -print | sort))"
emit dpo.responses "$(find dpo -path 'dpo/checkpoint-*' -prune -o -name 'test-responses.json' -print | xargs cat | digest)"
"$fuselm" finetune-dpo --init inst --data pairs.json --out dpo_lora --epochs 1 --batch 3 \
  --lr 1e-3 --max-length 64 --train-ratio 0.75 --val-ratio 0.125 --responses 0 --lora 2 $T \
  2>/dev/null > dpo_lora.log
emit dpo_lora.metrics "$(metrics < dpo_lora.log | digest)"
emit dpo_lora.weights "$(weights $(find dpo_lora -path 'dpo_lora/checkpoint-*' -prune -o -name '*.safetensors' -print | sort))"
echo "replay: the NER and DPO runs (9. and 10.) took $((SECONDS - t9)) s" >&2
