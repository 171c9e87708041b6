#!/usr/bin/env bash
# Data-parallel checks of the other kinds of training (issue 16; benchmarks/dist/check.sh runs it
# after its causal-LM checks): each task trained by 1 process and by 2 (mpirun, shared memory;
# instruction tuning with LoRA over TCP on loopback) gives the same logged figures and final
# weights within the tolerances below, with batches the 2 ranks share unevenly (odd batches, the
# short last batch of an epoch, shards with different numbers of masked or padded targets):
#   1. train-mlm, MLM + NSP (two loss terms), batch 3, 2 micro-batches a step, 4 steps;
#   2. finetune-classify, GPT (the last block + head; 2 epochs), GPT with LoRA, BERT, batch 5,
#      1 epoch;
#   3. finetune-instruct, full and LoRA (this one over TCP), batch 3, 1 epoch;
#   4. a 2-process GPT classification stopped after epoch 1 (--save-state) and resumed to epoch 2
#      equals the uninterrupted 2-process run of 2. bit for bit; resuming it with 1 process is
#      refused;
#   5. finetune-ner, BERT (the MLM model of 1.), 1 epoch, and 2 epochs over TCP, batch 5, 47
#      sentences (batches 5 x 9 + 2: the ranks hold different numbers of labelled tokens), and GPT
#      (1 epoch), whose head has Hugging Face's fixed dropout 0.1: its mask is drawn by global row,
#      so the ranks drop what one process drops; then a 2-process BERT NER run stopped after epoch 1
#      (--save-state) and resumed to epoch 2 equals the uninterrupted 2-process run bit for bit;
#   6. finetune-dpo from the instruction-tuned model of 3., full and LoRA, batch 5, 12 pairs
#      (batches 5, 5, 2).
# Tiny models (GPT: 2 layers, 32 wide; BERT: 2 layers, 32 wide), no backbone dropout (the backbone's
# masks are drawn per rank: equally valid, not equal), one kernel thread a process.
# Tolerances: the ranks add the same per-example gradients in another order (each rank's share,
# weighted by its part of the global batch's targets, then the all-reduce sum), so the runs agree
# to float rounding, which AdamW carries into the weights; checked: logged figures rtol 1e-5,
# weights atol 2e-5 (measured: see README "Training on several machines").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
here=benchmarks/dist
RTOL=${RTOL:-1e-5}
ATOL=${ATOL:-2e-5}
bin/fuselm --version > /dev/null # builds once here, not in two ranks at once
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --oversubscribe -np 2)
tcp=(--mca btl self,tcp --mca btl_tcp_if_include lo)
fuselm="$root/bin/fuselm"
t0=$SECONDS

# run NAME CMD...: the command in 1 process (NAME-1.log) and 2 (NAME-2.log); its --out is
# $work/NAME-N (the caller writes @OUT@), TCP when NAME ends in -tcp
run() {
  local name="$1"
  shift
  local n extra=()
  [[ "$name" == *-tcp ]] && extra=("${tcp[@]}")
  for n in 1 2; do
    local args=("${@//@OUT@/$work/$name-$n}")
    if [ $n -eq 1 ]; then
      "${args[@]}" > "$work/$name-1.log" 2>&1 || { cat "$work/$name-1.log"; exit 1; }
    else
      "${mpi[@]}" "${extra[@]}" "${args[@]}" > "$work/$name-2.log" 2>&1 \
        || { cat "$work/$name-2.log"; echo "dist: $name failed with 2 processes" >&2; exit 1; }
    fi
  done
}

cat > "$work/gpt.json" <<'JSON'
{"vocab_size": 50257, "n_positions": 128, "n_embd": 32, "n_layer": 2, "n_head": 2,
 "embd_pdrop": 0.0, "resid_pdrop": 0.0, "attn_pdrop": 0.0}
JSON
cat > "$work/bert.json" <<'JSON'
{"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
 "intermediate_size": 64, "max_position_embeddings": 64, "type_vocab_size": 2,
 "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
JSON
"$fuselm" train --config "$work/gpt.json" --data ../shared/data/the-verdict.txt --out "$work/gpt" \
  --steps 2 --batch 2 --ctx 32 --threads 1 --quiet > "$work/gpt.log" 2>&1 || { cat "$work/gpt.log"; exit 1; }

# 1. MLM + NSP
run mlm "$fuselm" train-mlm --config "$work/bert.json" --data ../shared/data/the-verdict.txt \
  --out @OUT@ --steps 4 --batch 3 --grad-accum 2 --seq-len 32 --nsp --lr 1e-3 --threads 1 \
  --quiet --log-json @OUT@.jsonl --eval-every 2 --eval-batches 2
grep -q "data-parallel over 2 processes" "$work/mlm-2.log" \
  || { cat "$work/mlm-2.log"; echo "dist: train-mlm under mpirun was not data-parallel" >&2; exit 1; }
python3 $here/compare.py --label "train-mlm (MLM + NSP), 1 vs 2 processes" "$work/mlm-1.jsonl" \
  "$work/mlm-2.jsonl" --key loss --key mlm_loss --key nsp_loss --key val_loss \
  --loss-rtol "$RTOL" --weights "$work/mlm-1" "$work/mlm-2" --weights-atol "$ATOL"

# 2. classification: 60 lines of SMS spam, 48 to train: batches 5 x 9 + 3
head -n 60 ../shared/data/sms-spam-collection/SMSSpamCollection > "$work/sms.tsv"
classify=("$fuselm" finetune-classify --data "$work/sms.tsv" --text-column 1 --label-column 0
  --batch 5 --lr 1e-3 --threads 1 --val-ratio 0.1 --test-ratio 0.1 --max-length 32)
ckeys=(--key train_batch_loss --key train.loss --key validation.loss --key test.loss)
run cls-gpt "${classify[@]}" --init "$work/gpt" --out @OUT@ --epochs 2
python3 $here/compare.py --label "finetune-classify GPT, 1 vs 2 processes" \
  "$work/cls-gpt-1/log.jsonl" "$work/cls-gpt-2/log.jsonl" "${ckeys[@]}" --loss-rtol "$RTOL" \
  --weights "$work/cls-gpt-1" "$work/cls-gpt-2" --weights-atol "$ATOL"
run cls-lora "${classify[@]}" --init "$work/gpt" --out @OUT@ --epochs 1 --lora 4
python3 $here/compare.py --label "finetune-classify GPT + LoRA, 1 vs 2 processes" \
  "$work/cls-lora-1/log.jsonl" "$work/cls-lora-2/log.jsonl" "${ckeys[@]}" --loss-rtol "$RTOL" \
  --weights "$work/cls-lora-1" "$work/cls-lora-2" --weights-atol "$ATOL"
run cls-bert "${classify[@]}" --init "$work/mlm-1" --out @OUT@ --epochs 1
python3 $here/compare.py --label "finetune-classify BERT, 1 vs 2 processes" \
  "$work/cls-bert-1/log.jsonl" "$work/cls-bert-2/log.jsonl" "${ckeys[@]}" --loss-rtol "$RTOL" \
  --weights "$work/cls-bert-1" "$work/cls-bert-2" --weights-atol "$ATOL"

# 3. instruction tuning: 16 entries, 12 to train (batches 3 x 4), prompts masked (the shards hold
# different numbers of targets), 1 new token per test answer
python3 - "$work/instruct.json" <<'PY'
import json, sys
json.dump(json.load(open("../shared/data/instruction-data.json"))[:16], open(sys.argv[1], "w"))
PY
instruct=("$fuselm" finetune-instruct --init "$work/gpt" --data "$work/instruct.json" --batch 3
  --lr 1e-3 --epochs 1 --max-length 128 --mask-prompt --train-ratio 0.75 --val-ratio 0.125
  --max-new-tokens 1 --threads 1 --quiet)
ikeys=(--key loss --key val_loss --key train_loss --key test_loss)
run ins-full "${instruct[@]}" --out @OUT@
python3 $here/compare.py --label "finetune-instruct, 1 vs 2 processes" \
  "$work/ins-full-1/log.jsonl" "$work/ins-full-2/log.jsonl" "${ikeys[@]}" --loss-rtol "$RTOL" \
  --weights "$work/ins-full-1" "$work/ins-full-2" --weights-atol "$ATOL"
run ins-lora-tcp "${instruct[@]}" --out @OUT@ --lora 4
python3 $here/compare.py --label "finetune-instruct + LoRA, 1 vs 2 processes (TCP loopback)" \
  "$work/ins-lora-tcp-1/log.jsonl" "$work/ins-lora-tcp-2/log.jsonl" "${ikeys[@]}" \
  --loss-rtol "$RTOL" --weights "$work/ins-lora-tcp-1" "$work/ins-lora-tcp-2" --weights-atol "$ATOL"

# 4. stop after epoch 1, resume to epoch 2, with 2 processes: bit for bit the 2-epoch run of 2.
"${mpi[@]}" "${classify[@]}" --init "$work/gpt" --out "$work/half" --epochs 1 --save-state \
  > "$work/half.log" 2>&1 || { cat "$work/half.log"; exit 1; }
"${mpi[@]}" "${classify[@]}" --init "$work/gpt" --resume "$work/half" --out "$work/resumed" \
  --epochs 2 > "$work/resumed.log" 2>&1 || { cat "$work/resumed.log"; exit 1; }
python3 $here/compare.py --label "finetune-classify, 2 processes stopped after epoch 1 and resumed" \
  "$work/cls-gpt-2/log.jsonl" "$work/resumed/log.jsonl" "${ckeys[@]}" --from-step 11 --loss-rtol 0 \
  --weights "$work/cls-gpt-2" "$work/resumed" --weights-atol 0
set +e
"${classify[@]}" --init "$work/gpt" --resume "$work/half" --out "$work/other" --epochs 2 \
  > "$work/other.log" 2>&1
rc=$?
set -e
if [ $rc -ne 2 ] || ! grep -q "trained by 2 processes and this run has 1" "$work/other.log"; then
  cat "$work/other.log"; echo "dist: resuming with another process count was not refused (exit $rc)" >&2; exit 1
fi
echo "dist: resuming a 2-process classifier with 1 process: exit 2"

# 5. token classification (NER) on the committed date-NER slice
t5=$SECONDS
awk 'BEGIN{RS=""; ORS="\n\n"} NR<=47' src/test/resources/ner/dates-train.conll > "$work/ner-train.conll"
awk 'BEGIN{RS=""; ORS="\n\n"} NR<=10' src/test/resources/ner/dates-test.conll > "$work/ner-val.conll"
ner=("$fuselm" finetune-ner --train "$work/ner-train.conll" --val "$work/ner-val.conll" --batch 5
  --lr 1e-3 --max-length 32 --threads 1)
nkeys=(--key train_batch_loss --key validation.loss --key train.loss --key validation.f1)
run ner-bert "${ner[@]}" --init "$work/mlm-1" --out @OUT@ --epochs 1
grep -q '"event":"final"' "$work/ner-bert-2.log" \
  || { cat "$work/ner-bert-2.log"; echo "dist: finetune-ner under mpirun printed no final line" >&2; exit 1; }
python3 $here/compare.py --label "finetune-ner BERT, 1 vs 2 processes" \
  "$work/ner-bert-1/log.jsonl" "$work/ner-bert-2/log.jsonl" "${nkeys[@]}" --loss-rtol "$RTOL" \
  --weights "$work/ner-bert-1" "$work/ner-bert-2" --weights-atol "$ATOL"
run ner-bert-tcp "${ner[@]}" --init "$work/mlm-1" --out @OUT@ --epochs 2
python3 $here/compare.py --label "finetune-ner BERT, 2 epochs, 1 vs 2 processes (TCP loopback)" \
  "$work/ner-bert-tcp-1/log.jsonl" "$work/ner-bert-tcp-2/log.jsonl" "${nkeys[@]}" \
  --loss-rtol "$RTOL" --weights "$work/ner-bert-tcp-1" "$work/ner-bert-tcp-2" --weights-atol "$ATOL"
run ner-gpt "${ner[@]}" --init "$work/gpt" --out @OUT@ --epochs 1
python3 $here/compare.py --label "finetune-ner GPT (head dropout 0.1), 1 vs 2 processes" \
  "$work/ner-gpt-1/log.jsonl" "$work/ner-gpt-2/log.jsonl" "${nkeys[@]}" --loss-rtol "$RTOL" \
  --weights "$work/ner-gpt-1" "$work/ner-gpt-2" --weights-atol "$ATOL"
"${mpi[@]}" "${ner[@]}" --init "$work/mlm-1" --out "$work/ner-half" --epochs 1 --save-state \
  > "$work/ner-half.log" 2>&1 || { cat "$work/ner-half.log"; exit 1; }
"${mpi[@]}" "${tcp[@]}" "${ner[@]}" --init "$work/mlm-1" --resume "$work/ner-half" \
  --out "$work/ner-resumed" --epochs 2 > "$work/ner-resumed.log" 2>&1 \
  || { cat "$work/ner-resumed.log"; exit 1; }
python3 $here/compare.py --label "finetune-ner, 2 processes stopped after epoch 1 and resumed" \
  "$work/ner-bert-tcp-2/log.jsonl" "$work/ner-resumed/log.jsonl" "${nkeys[@]}" --from-step 11 \
  --loss-rtol 0 --weights "$work/ner-bert-tcp-2" "$work/ner-resumed" --weights-atol 0

# 6. DPO: pairs from the 16 instruction entries (chosen: the entry's response, rejected: the next
# entry's), 12 to train
python3 - "$work/instruct.json" "$work/pairs.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
json.dump([dict(e, chosen=e["output"], rejected=d[(i + 1) % len(d)]["output"])
           for i, e in enumerate(d)], open(sys.argv[2], "w"))
PY
dpo=("$fuselm" finetune-dpo --init "$work/ins-full-1" --data "$work/pairs.json" --batch 5
  --epochs 1 --max-length 128 --train-ratio 0.75 --val-ratio 0.125 --responses 0 --threads 1)
dkeys=(--key loss --key train_loss --key val_loss --key test_loss)
run dpo-full "${dpo[@]}" --lr 1e-4 --out @OUT@
python3 $here/compare.py --label "finetune-dpo, 1 vs 2 processes" \
  "$work/dpo-full-1/log.jsonl" "$work/dpo-full-2/log.jsonl" "${dkeys[@]}" --loss-rtol "$RTOL" \
  --weights "$work/dpo-full-1" "$work/dpo-full-2" --weights-atol "$ATOL"
run dpo-lora "${dpo[@]}" --lr 1e-3 --out @OUT@ --lora 4
python3 $here/compare.py --label "finetune-dpo + LoRA, 1 vs 2 processes" \
  "$work/dpo-lora-1/log.jsonl" "$work/dpo-lora-2/log.jsonl" "${dkeys[@]}" --loss-rtol "$RTOL" \
  --weights "$work/dpo-lora-1" "$work/dpo-lora-2" --weights-atol "$ATOL"
echo "dist: NER and DPO checks (5. and 6.) took $((SECONDS - t5)) s"
echo "dist: task checks passed in $((SECONDS - t0)) s"
