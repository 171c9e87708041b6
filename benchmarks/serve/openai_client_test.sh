#!/usr/bin/env bash
# The official openai Python client against `fuselm serve` on a model directory (GPT-2 tokenizer):
#
#   benchmarks/serve/openai_client_test.sh MODEL_DIR PYTHON
#
# PYTHON imports openai (benchmarks/serve/openai_venv.sh makes one). Computes the greedy texts with
# the one-at-a-time Generator (`fuselm generate`) first, then starts the server with an API key and
# a pause before loading (so /health is seen answering 503), and runs openai_client_test.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
model="$1"
py="$2"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  # the server dies of the SIGTERM (status 143): that is not this script's result
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
bin/fuselm generate --model "$model" --prompt "I had always" --max-new-tokens 12 \
  --temperature 0 > "$work/greedy.txt"
# the chat prompt: the default (Alpaca) template around one user message
chat_prompt="$(printf 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nSay hello\n\n### Response:\n')"
bin/fuselm generate --model "$model" --prompt "$chat_prompt"$'\n' --max-new-tokens 8 \
  --temperature 0 > "$work/chat.txt"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key="ci-$RANDOM$RANDOM"
FUSELM_API_KEY="$key" bin/fuselm serve --model "$model" --port "$port" --slots 4 \
  --load-delay 2 > "$work/serve.log" 2>&1 &
server_pid=$!
if ! "$py" benchmarks/serve/openai_client_test.py "http://127.0.0.1:$port" "$key" "$work"; then
  echo "openai client test: server log:" >&2
  cat "$work/serve.log" >&2
  exit 1
fi
