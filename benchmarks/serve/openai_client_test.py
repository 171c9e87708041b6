"""Drives `fuselm serve` with the official openai Python client (run by openai_client_test.sh).

Checks: /health answers 503 before the model is loaded; 401 without the right key; models.list();
completions and chat, plain and streaming; stop; logprobs; n=2; greedy results equal the
one-at-a-time Generator (`fuselm generate`, passed in as files). Prints one line per check and
'N passed, N failed' at the end; exits 1 when a check failed.

usage: openai_client_test.py BASE_URL API_KEY EXPECTED_DIR
"""
import json
import sys
import time
import urllib.error
import urllib.request

import openai

base, key, expected_dir = sys.argv[1], sys.argv[2], sys.argv[3]
PROMPT = "I had always"
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + detail), flush=True)


def health():
    try:
        with urllib.request.urlopen(base + "/health", timeout=5) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)
    except OSError:
        return None, {}


# 1. /health: refused (not listening yet), then 503 with Retry-After while loading, then 200
seen = []
deadline = time.time() + 60
while time.time() < deadline:
    status, headers = health()
    if not seen or seen[-1][0] != status:
        seen.append((status, headers.get("Retry-After")))
    if status == 200:
        break
    time.sleep(0.05)
check("health 503 with Retry-After before the model is loaded",
      (503, "5") in seen and seen[-1][0] == 200, str(seen))

client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=60)

# 2. the key
try:
    openai.OpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0).models.list()
    check("401 without the key", False, "no error")
except openai.AuthenticationError as e:
    check("401 without the key", e.status_code == 401, str(e))

# 3. models
models = [m.id for m in client.models.list()]
check("models.list() names the served model", len(models) == 1, str(models))
model = models[0]
try:
    client.completions.create(model="not-" + model, prompt=PROMPT, max_tokens=2)
    check("404 for another model", False, "no error")
except openai.NotFoundError as e:
    check("404 for another model", e.status_code == 404, str(e))

with open(expected_dir + "/greedy.txt", encoding="utf-8") as f:
    want = f.read()[:-1]  # fuselm generate ends the text with a newline
with open(expected_dir + "/chat.txt", encoding="utf-8") as f:
    want_chat = f.read()[:-1]

# 4. completions, plain and streamed, greedy = the Generator
c = client.completions.create(model=model, prompt=PROMPT, max_tokens=12, temperature=0)
check("completion equals the Generator", c.choices[0].text == want,
      repr(c.choices[0].text) + " != " + repr(want))
streamed = "".join(ch.choices[0].text for ch in client.completions.create(
    model=model, prompt=PROMPT, max_tokens=12, temperature=0, stream=True))
check("streamed completion equals the Generator", streamed == want, repr(streamed))

# 5. n=2 and logprobs
c = client.completions.create(model=model, prompt=PROMPT, max_tokens=12, temperature=0, n=2,
                              logprobs=2)
check("n=2 gives two greedy choices", [ch.text for ch in c.choices] == [want, want],
      str([ch.text for ch in c.choices]))
lp = c.choices[0].logprobs
check("logprobs: one entry per token, the greedy token the most likely",
      "".join(lp.tokens) == want and all(
          abs(max(top.values()) - t) < 1e-5 for top, t in zip(lp.top_logprobs, lp.token_logprobs)),
      json.dumps(lp.model_dump())[:300])

# 6. stop
if len(want) >= 6:
    stop = want[3:6]
    c = client.completions.create(model=model, prompt=PROMPT, max_tokens=12, temperature=0,
                                  stop=[stop, "\u0000"])
    check("stop ends the text before the stop string",
          c.choices[0].text == want[:want.index(stop)] and c.choices[0].finish_reason == "stop",
          repr(c.choices[0].text))
else:
    check("stop (the greedy text is too short to pick a stop string)", False, repr(want))

# 7. chat, plain and streamed (the default Alpaca template), with logprobs
messages = [{"role": "user", "content": "Say hello"}]
r = client.chat.completions.create(model=model, messages=messages, max_tokens=8, temperature=0,
                                   logprobs=True, top_logprobs=2)
check("chat equals the Generator on the template's prompt",
      r.choices[0].message.content == want_chat and r.choices[0].message.role == "assistant",
      repr(r.choices[0].message.content) + " != " + repr(want_chat))
check("chat logprobs", r.choices[0].logprobs is not None
      and len(r.choices[0].logprobs.content[0].top_logprobs) == 2, str(r.choices[0].logprobs)[:200])
parts, usage = [], None
for ch in client.chat.completions.create(model=model, messages=messages, max_tokens=8,
                                         temperature=0, stream=True,
                                         stream_options={"include_usage": True}):
    if ch.choices:
        parts.append(ch.choices[0].delta.content or "")
    if ch.usage is not None:
        usage = ch.usage
check("streamed chat equals the plain one", "".join(parts) == want_chat, repr("".join(parts)))
check("include_usage sends the usage", usage is not None
      and usage.total_tokens == r.usage.total_tokens, str(usage))

# 8. an unsupported field is a 400 that names it
try:
    client.completions.create(model=model, prompt=PROMPT, max_tokens=2, logit_bias={"1": 5})
    check("logit_bias refused", False, "no error")
except openai.BadRequestError as e:
    check("logit_bias refused", "logit_bias" in str(e), str(e))

print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
