#!/usr/bin/env bash
# Crash test of checkpoints (issue 19). A tiny GPT (8,624 parameters, a 300-token BPE vocabulary)
# trains STEPS steps with a checkpoint after every step. Each of TRIALS trials starts that run,
# SIGKILLs the java process at a random (seeded) moment, then resumes from --out to the end:
# every trial must resume (or start over when no checkpoint was published yet) and finish with
# the uninterrupted run's per-step losses and final weights + training state, bit for bit
# (SHA-256), and the directory must hold no leftovers of the killed save afterwards.
# Then a full-disk trial on a small tmpfs: the save that does not fit fails with one line naming
# the file and exit 2, and the previous checkpoint still resumes to the uninterrupted result.
# (Skipped with the reason where mounting is not permitted.)
#
#   benchmarks/crash/check.sh [TRIALS] [SEED]     (defaults 30 and 19)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
data="$root/../shared/data/the-verdict.txt"
fuselm="$root/bin/fuselm"
trials="${1:-30}"
RANDOM="${2:-19}" # seeds bash's generator: the kill moments are the same every run
STEPS=8
export FUSELM_ISA=avx2
# the JVM's C1 compiler only and the serial collector: ~40% less CPU per short run, same bits
export FUSELM_JAVA_OPTS="${FUSELM_JAVA_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}"
work="$(mktemp -d)"
mounted=""
cleanup() {
  [ -n "$mounted" ] && umount "$mounted" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

"$fuselm" bpe-train --input "$data" --vocab-size 300 --output tok >/dev/null 2>&1
echo '{"vocab_size": 300, "n_positions": 32, "n_embd": 16, "n_layer": 1, "n_head": 2}' > c.json
common=(--data "$data" --steps "$STEPS" --batch 2 --ctx 16 --save-every 1 --quiet --threads 1 --seed 7)
fresh=(--config c.json --tokenizer tok)

# "step loss" lines of a --log-json file (timings dropped)
losses() { python3 -c '
import json, sys
for path in sys.argv[1:]:
    for line in open(path):
        o = json.loads(line)
        if "loss" in o:
            print(o["step"], repr(o["loss"]))
' "$@"; }
# digest of the final model and training state that DIR's latest checkpoint holds
final() { local d="$1/$(cat "$1/latest")"; cat "$d/model.safetensors" "$d/training_state.safetensors" | sha256sum | cut -c1-16; }

# the uninterrupted run, timed: when its first checkpoint appears and when it ends
t0=$(date +%s%N)
"$fuselm" train "${fresh[@]}" "${common[@]}" --out ref --log-json ref.jsonl >/dev/null 2>&1 &
pid=$!
first_ms=""
while kill -0 "$pid" 2>/dev/null; do
  if [ -z "$first_ms" ] && [ -f ref/latest ]; then first_ms=$(( ($(date +%s%N) - t0) / 1000000 )); fi
  sleep 0.02
done
wait "$pid"
ref_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
# kill moments: uniform from a little before the first checkpoint (JVM start-up is most of the
# run and would waste trials) to the end of the run
from_ms=$(( ${first_ms:-0} * 9 / 10 ))
losses ref.jsonl > ref.losses
ref_final="$(final ref)"
echo "crash: uninterrupted run: $STEPS steps in ${ref_ms} ms (first checkpoint at ${first_ms} ms), final digest $ref_final"

mid_save=0
before_first=0
for i in $(seq 1 "$trials"); do
  d="t$i"
  delay_ms=$(( from_ms + (RANDOM * 32768 + RANDOM) % (ref_ms - from_ms) ))
  "$fuselm" train "${fresh[@]}" "${common[@]}" --out "$d" --log-json "$d.killed.jsonl" >/dev/null \
    2>/dev/null &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if compgen -G "$d/.*.tmp-*" >/dev/null || compgen -G "$d/.*.del-*" >/dev/null; then
    mid_save=$((mid_save + 1))
  fi
  if [ -f "$d/latest" ]; then
    at="$(cat "$d/latest")"
    "$fuselm" train --resume "$d" "${common[@]}" --out "$d" --log-json "$d.resumed.jsonl" >/dev/null \
      2>"$d.err" || { echo "crash: trial $i (kill after ${delay_ms} ms, $at): resume failed: $(tail -n1 "$d.err")" >&2; exit 1; }
    # the steps after the checkpoint (those before it are in the training state's loss history,
    # which the final digest covers)
    n="${at#checkpoint-}"
    { awk -v n="$n" '$1 <= n' ref.losses; losses "$d.resumed.jsonl"; } > "$d.losses"
  else
    at="none"
    before_first=$((before_first + 1))
    "$fuselm" train "${fresh[@]}" "${common[@]}" --out "$d" --log-json "$d.resumed.jsonl" >/dev/null \
      2>"$d.err" || { echo "crash: trial $i (kill after ${delay_ms} ms, no checkpoint): fresh run failed: $(tail -n1 "$d.err")" >&2; exit 1; }
    losses "$d.resumed.jsonl" > "$d.losses"
  fi
  if ! diff -q ref.losses "$d.losses" >/dev/null; then
    echo "crash: trial $i (kill after ${delay_ms} ms, resumed from $at): losses differ" >&2
    diff ref.losses "$d.losses" >&2 || true
    exit 1
  fi
  got="$(final "$d")"
  if [ "$got" != "$ref_final" ]; then
    echo "crash: trial $i (kill after ${delay_ms} ms, resumed from $at): final digest $got, expected $ref_final" >&2
    exit 1
  fi
  left="$(find "$d" -mindepth 1 -name '.*' | sed -n 1,3p)"
  ckpts="$(find "$d" -maxdepth 1 -name 'checkpoint-*' | wc -l)"
  if [ -n "$left" ] || [ "$ckpts" -gt 2 ]; then
    echo "crash: trial $i: leftovers after the resumed run: ${left:-$ckpts checkpoint directories}" >&2
    exit 1
  fi
  echo "crash: trial $i: killed after ${delay_ms} ms, resumed from $at: losses and final digest identical"
  rm -rf "$d"
done
echo "crash: $trials/$trials kill -9 trials resumed bit for bit ($mid_save killed inside a save, $before_first before the first checkpoint)"

# Full disk: a tmpfs holding two checkpoints and a half; the third save cannot fit.
mkdir disk
if ! mount -t tmpfs -o size=300k tmpfs disk 2>mount.err; then
  echo "crash: full-disk trial skipped: cannot mount a tmpfs here ($(head -n1 mount.err))"
  exit 0
fi
mounted="$work/disk"
set +e
"$fuselm" train "${fresh[@]}" "${common[@]}" --out disk/run --log-json full.jsonl >/dev/null 2>full.err
rc=$?
set -e
last="$(tail -n1 full.err)"
if [ "$rc" -ne 2 ] || [[ "$last" != *"disk/run/"*"No space left on device"* ]] \
  || grep -q $'^\tat \|Exception' full.err; then
  echo "crash: full disk: expected exit 2 and one line naming the file, got exit $rc:" >&2
  cat full.err >&2
  exit 1
fi
at="$(cat disk/run/latest)"
if compgen -G "disk/run/.*" >/dev/null; then
  echo "crash: full disk: the failed save left $(ls -d disk/run/.* | grep -v '/\.\.\?$' | sed -n 1,2p)" >&2
  exit 1
fi
# the previous checkpoint resumes (into a directory with room) to the uninterrupted result
"$fuselm" train --resume disk/run "${common[@]}" --out after --log-json after.jsonl >/dev/null 2>after.err \
  || { echo "crash: full disk: resume failed: $(tail -n1 after.err)" >&2; exit 1; }
n="${at#checkpoint-}"
{ awk -v n="$n" '$1 <= n' ref.losses; losses after.jsonl; } > full.losses
if ! diff -q ref.losses full.losses >/dev/null || [ "$(final after)" != "$ref_final" ]; then
  echo "crash: full disk: the run resumed from $at differs from the uninterrupted one" >&2
  exit 1
fi
echo "crash: full disk: exit 2 with '$last'; $at resumed to the uninterrupted result"
