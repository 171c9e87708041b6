#!/usr/bin/env bash
# Fuzzes every target for a while: the eight Jazzer @FuzzTest targets (Java parsers and tokenizers)
# and the libFuzzer target of the native entry points (ASan + UBSan). CI runs it short; a longer
# campaign is the same script with longer times:
#   benchmarks/fuzz/run.sh                       # CI: 15 s per Jazzer target, 30 s native
#   JAZZER_SECONDS=600 NATIVE_SECONDS=3600 benchmarks/fuzz/run.sh
# Needs the test classes (mvn test-compile) and, for libFuzzer, clang (else the native part runs
# fuselm_fuzz_driver, seeded random inputs, built with the default compiler). Prints one line per
# target with its executions; a finding fails the script: Jazzer writes the input under
# src/test/resources/dev/fuselm/<pkg>/<Class>Inputs/<method>/ (commit it: it becomes a regression
# case), libFuzzer writes crash-* under target/fuzz-native/.
set -euo pipefail
cd "$(dirname "$0")/../.."
jazzer_seconds="${JAZZER_SECONDS:-15}"
native_seconds="${NATIVE_SECONDS:-30}"
log="target/fuzz-logs"
mkdir -p "$log"

targets=(
  io.SafeTensorsFuzzTest#readAnyFile
  io.ConfigJsonFuzzTest#parseAnyConfig
  tokenizer.TokenizerFilesFuzzTest#bpeFiles
  tokenizer.TokenizerFilesFuzzTest#tokenizerJson
  tokenizer.TokenizerFilesFuzzTest#vocabTxt
  tokenizer.EncodingFuzzTest#byteLevelBpeRoundTrip
  tokenizer.EncodingFuzzTest#wordPiece
  serve.RequestParsingFuzzTest#parseAnyBody
)
for t in "${targets[@]}"; do
  out="$log/${t//[#.]/_}.txt"
  # surefire:test alone: no rebuild; Jazzer fuzzes one @FuzzTest per JVM
  if ! JAZZER_FUZZ=1 JAZZER_MAX_DURATION="${jazzer_seconds}s" mvn -B -q surefire:test \
      -Dtest="dev.fuselm.$t" -Dfuselm.excludedGroups=slow -Dsurefire.failIfNoSpecifiedTests=false \
      > "$out" 2>&1; then
    echo "fuzz: $t FAILED (finding or error); see $out" >&2
    tail -n 40 "$out" >&2
    exit 1
  fi
  # libFuzzer's last status line: "#<executions> DONE cov: ... exec/s: ..."
  done_line="$(grep -aoE '#[0-9]+[[:space:]]+DONE.*' "$out" | tail -n1 || true)"
  echo "fuzz: $t: ${done_line:-no DONE line (see $out)} in ${jazzer_seconds}s"
done

# The native entry points: libFuzzer where clang offers it, else the random-input driver.
build="target/native-fuzz"
if command -v clang++ >/dev/null; then
  cmake -S native -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DFUSELM_FUZZ=ON -DFUSELM_SANITIZE=ON -DFUSELM_CUDA=OFF > /dev/null
  cmake --build "$build" --target fuselm_fuzz > /dev/null
  work="target/fuzz-native"
  mkdir -p "$work/corpus"
  cp native/fuzz/corpus/* "$work/corpus/"
  "$build/fuselm_fuzz" -max_total_time="$native_seconds" -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" > "$log/native.txt" 2>&1 \
    || { echo "fuzz: native FAILED; see $log/native.txt" >&2; tail -n 40 "$log/native.txt" >&2; exit 1; }
  echo "fuzz: native (libFuzzer, ASan + UBSan): $(grep -aoE '#[0-9]+[[:space:]]+DONE.*' "$log/native.txt" | tail -n1) in ${native_seconds}s"
else
  echo "fuzz: no clang++: the native entry points get fuselm_fuzz_driver's random inputs instead"
  cmake -S native -B "$build" -G Ninja -DFUSELM_SANITIZE=ON -DFUSELM_CUDA=OFF > /dev/null
  cmake --build "$build" --target fuselm_fuzz_driver > /dev/null
  timeout "$((native_seconds + 60))" "$build/fuselm_fuzz_driver" --runs 20000 --seed "$RANDOM"
fi
