#!/usr/bin/python3
"""The PyTorch side of benchmarks/bert/compare_pytorch.sh: sentence embeddings with a BERT encoder
written in plain PyTorch (no `transformers`): the same module as the parity fixtures
(benchmarks/parity/bert_parity.py: Hugging Face's BertModel semantics, extended attention mask,
exact erf GELU, post-LN blocks), random weights, fp32 on the CPU, under torch.no_grad(). One batch
= encoder forward with the padding mask + mean pooling over the non-padding tokens, the work of
`fuselm bench embed`. Every sequence is --seq tokens: [CLS], random ordinary word pieces, [SEP].

Prints one JSON line shaped like `fuselm bench embed`: ms_per_batch and sentences_per_s are the
median of --steps timed batches after one untimed warm-up; cpu_ms_per_batch is the process's CPU
time (all threads) over a batch; max_rss_kb its peak resident memory.
Usage: /usr/bin/python3 bert_torch_bench.py [--config bert-base-uncased] [--batch 32] [--seq 128]
       [--steps 3] [--threads 2]
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))
from bert_parity import encoder, init_params  # noqa: E402

PRESETS = {  # vocab, hidden, layers, heads, intermediate
    "bert-base-uncased": (30522, 768, 12, 12, 3072),
    "bert-base-cased": (28996, 768, 12, 12, 3072),
    "bert-large": (30522, 1024, 24, 16, 4096),
    "bert-tiny": (30522, 128, 2, 2, 512),
    "bert-mini": (30522, 256, 4, 4, 1024),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="bert-base-uncased", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    v, c, l, nh, i = PRESETS[a.config]
    cfg = dict(vocab_size=v, hidden_size=c, num_hidden_layers=l, num_attention_heads=nh,
               intermediate_size=i, max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12)
    params = {k: t.detach() for k, t in init_params(cfg, torch.Generator().manual_seed(1), std=0.02,
                                                     heads=False).items()}
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(1000, 30522, (a.batch, a.seq), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102
    types = torch.zeros_like(ids)
    mask = torch.ones_like(ids)
    ms, cpu = [], []
    with torch.no_grad():
        for s in range(a.steps + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            hidden = encoder(params, cfg, ids, types, mask)
            m = mask.unsqueeze(-1).float()
            emb = (hidden * m).sum(1) / m.sum(1)
            assert emb.shape == (a.batch, c)
            if s > 0:
                ms.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.process_time() - c0) * 1e3)
    med = statistics.median(ms)
    print(json.dumps({"bench": "embed", "impl": "pytorch", "torch": torch.__version__, "config": a.config,
                      "parameters": sum(t.numel() for t in params.values()), "batch": a.batch, "seq": a.seq,
                      "threads": torch.get_num_threads(), "steps": a.steps, "ms_per_batch": round(med, 1),
                      "sentences_per_s": round(a.batch / (med / 1e3), 2),
                      "cpu_ms_per_batch": round(statistics.median(cpu), 1),
                      "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    main()
