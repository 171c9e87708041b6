#!/usr/bin/env bash
# Fetches OpenNLP's test jar from Maven Central (through the local Maven repository) and builds the
# date-NER corpus into DIR (train/val/test .conll): see opennlp_dates.py for source and procedure.
#   benchmarks/ner/corpus.sh DIR
set -euo pipefail
dir="${1:?usage: $0 DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
v=2.5.4
jar="$HOME/.m2/repository/org/apache/opennlp/opennlp-tools/$v/opennlp-tools-$v-tests.jar"
if [ ! -f "$jar" ]; then
  mvn -B -q dependency:get -Dartifact=org.apache.opennlp:opennlp-tools:$v:jar:tests \
    -Dtransitive=false >&2
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
unzip -q -o "$jar" opennlp/tools/namefind/RandomNewsWithGeneratedDates_EN.train -d "$tmp"
python3 "$here/opennlp_dates.py" "$tmp/opennlp/tools/namefind/RandomNewsWithGeneratedDates_EN.train" "$dir"
