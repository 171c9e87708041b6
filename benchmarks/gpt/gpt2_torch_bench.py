#!/usr/bin/python3
"""The PyTorch side of benchmarks/gpt/compare_pytorch.sh: a GPT-2 written in plain PyTorch (no
`transformers`), the same architecture as fuselm's (learned position embeddings, pre-LN blocks,
fused qkv with bias, tanh-GELU MLP 4x, final layer norm, LM head tied to the token embedding),
fp32 on the CPU. Prints one JSON line, shaped like `fuselm bench train|generate`:

  train     forward + backward + AdamW step (foreach) on random ids/targets  -> ms_per_step
  forward   inference forward pass, logits of all B*T positions, no_grad     -> ms_per_step
  generate  greedy decoding, batch B, prompt of --ctx tokens, preallocated KV cache; tokens/s counts
            the tokens after the first (the first includes the prompt's prefill), as fuselm does

Usage: /usr/bin/python3 gpt2_torch_bench.py train|forward|generate [--config gpt2] [--batch 4]
       [--ctx 64] [--steps 5] [--runs 3] [--threads 2]
The first step (or run) is a warm-up and is not timed; the value printed is the median of the rest.
cpu_ms_per_step / cpu_ms_per_token: the process's CPU time (all threads) over the same span, which
depends much less than wall time on what else the machine runs.
max_rss_kb is the process's peak resident memory (getrusage), for the memory comparison.
Needs PyTorch: Debian's python3-torch (/usr/bin/python3), or 2.13 from the local wheel index in the
venv benchmarks/parity/hf_venv.sh makes (benchmarks/peers/gpt_peers.sh uses that one).
--precision bf16 runs the forward (and the loss) under torch.autocast("cpu", bfloat16), the
parameters and AdamW staying float32. Attention without a cache is scaled_dot_product_attention.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn.functional as F

PRESETS = {  # n_layer, n_head, n_embd
    "gpt2": (12, 12, 768),
    "gpt2-medium": (24, 16, 1024),
    "gpt2-large": (36, 20, 1280),
    "gpt2-xl": (48, 25, 1600),
}
VOCAB, N_POS = 50257, 1024


class Block(torch.nn.Module):
    def __init__(self, c, nh):
        super().__init__()
        self.nh = nh
        self.ln_1 = torch.nn.LayerNorm(c)
        self.c_attn = torch.nn.Linear(c, 3 * c)
        self.c_proj = torch.nn.Linear(c, c)
        self.ln_2 = torch.nn.LayerNorm(c)
        self.c_fc = torch.nn.Linear(c, 4 * c)
        self.mlp_proj = torch.nn.Linear(4 * c, c)

    def attention(self, x, cache, pos):
        b, t, c = x.shape
        hs = c // self.nh
        q, k, v = self.c_attn(x).split(c, dim=2)
        q = q.view(b, t, self.nh, hs).transpose(1, 2)
        k = k.view(b, t, self.nh, hs).transpose(1, 2)
        v = v.view(b, t, self.nh, hs).transpose(1, 2)
        if cache is not None:  # (k_buf, v_buf) of shape (B, nh, N_POS, hs)
            cache[0][:, :, pos:pos + t] = k
            cache[1][:, :, pos:pos + t] = v
            k = cache[0][:, :, :pos + t]
            v = cache[1][:, :, :pos + t]
        if cache is None and t > 1:  # training and the full forward: PyTorch's fused attention
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        if t > 1:  # causal mask; a single new token sees the whole cache
            n = k.shape[2]
            mask = torch.ones(t, n, dtype=torch.bool).tril(diagonal=n - t)
            att = att.masked_fill(~mask, float("-inf"))
        y = att.softmax(dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))

    def forward(self, x, cache=None, pos=0):
        x = x + self.attention(self.ln_1(x), cache, pos)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt2(torch.nn.Module):
    def __init__(self, n_layer, n_head, c):
        super().__init__()
        self.c, self.nh = c, n_head
        self.wte = torch.nn.Embedding(VOCAB, c)
        self.wpe = torch.nn.Embedding(N_POS, c)
        self.h = torch.nn.ModuleList(Block(c, n_head) for _ in range(n_layer))
        self.ln_f = torch.nn.LayerNorm(c)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias"):
                torch.nn.init.zeros_(p)

    def forward(self, ids, caches=None, pos=0):
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(pos, pos + t))
        for l, blk in enumerate(self.h):
            x = blk(x, None if caches is None else caches[l], pos)
        return F.linear(self.ln_f(x), self.wte.weight)  # tied head


def decay_groups(model):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["train", "forward", "generate"])
    ap.add_argument("--config", default="gpt2", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--ctx", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5, help="timed steps (train/forward) or new tokens")
    ap.add_argument("--runs", type=int, default=3, help="timed runs (generate)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="bf16: torch.autocast(cpu, bfloat16) around the forward (and the loss)")
    a = ap.parse_args()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16")
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = Gpt2(*PRESETS[a.config])
    nparams = sum(p.numel() for p in model.parameters())
    g = torch.Generator().manual_seed(2)
    out = {"bench": a.mode, "impl": "pytorch", "torch": torch.__version__, "config": a.config,
           "parameters": nparams, "batch": a.batch, "threads": torch.get_num_threads(),
           "precision": a.precision}

    if a.mode in ("train", "forward"):
        x = torch.randint(VOCAB, (a.batch, a.ctx), generator=g)
        y = torch.randint(VOCAB, (a.batch, a.ctx), generator=g)
        opt = None
        if a.mode == "train":
            opt = torch.optim.AdamW(decay_groups(model), lr=1e-4, betas=(0.9, 0.95), eps=1e-8,
                                    foreach=True)
        else:
            model.eval()
        ms, cpu = [], []
        for s in range(a.steps + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            if opt is not None:
                opt.zero_grad(set_to_none=True)
                with autocast:
                    logits = model(x)
                    loss = F.cross_entropy(logits.view(-1, VOCAB), y.view(-1))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
            else:
                with torch.no_grad(), autocast:
                    model(x)
            if s > 0:
                ms.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.process_time() - c0) * 1e3)
        med = statistics.median(ms)
        out.update({"ctx": a.ctx, "steps": a.steps, "ms_per_step": round(med, 1),
                    "tokens_per_s": round(a.batch * a.ctx / (med / 1e3), 1),
                    "cpu_ms_per_step": round(statistics.median(cpu), 1)})
    else:
        model.eval()
        n_layer, nh, c = PRESETS[a.config]
        prompt = torch.tensor([[(i * 31 + 7) % VOCAB for i in range(a.ctx)]] * a.batch)
        caches = [(torch.empty(a.batch, nh, N_POS, c // nh), torch.empty(a.batch, nh, N_POS, c // nh))
                  for _ in range(n_layer)]
        tps, cpu = [], []
        with torch.no_grad(), autocast:
            for r in range(a.runs + 1):
                logits = model(prompt, caches, 0)
                nxt = logits[:, -1].argmax(-1, keepdim=True)
                t_first, c_first = time.perf_counter(), time.process_time()
                pos = a.ctx
                for _ in range(a.steps - 1):
                    logits = model(nxt, caches, pos)
                    nxt = logits[:, -1].argmax(-1, keepdim=True)
                    pos += 1
                if r > 0:
                    tps.append(a.batch * (a.steps - 1) / (time.perf_counter() - t_first))
                    cpu.append((time.process_time() - c_first) * 1e3 / (a.batch * (a.steps - 1)))
        med = statistics.median(tps)
        out.update({"prompt": a.ctx, "new_tokens": a.steps, "ms_per_token": round(1e3 * a.batch / med, 2),
                    "tokens_per_s": round(med, 2), "weight_bytes": 4 * nparams,
                    "cpu_ms_per_token": round(statistics.median(cpu), 2)})
    out["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out))


if __name__ == "__main__":
    main()
